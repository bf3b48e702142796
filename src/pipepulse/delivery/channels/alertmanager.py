"""``alertmanager``: the alerts posted to a Prometheus Alertmanager's ``/api/v2/alerts`` (SPEC §7.5).

Each alert carries its labels, ``startsAt`` (the exact start of the condition), ``endsAt``
when it resolved, annotations (reason, connection name) and ``generatorURL`` (the Streaming
Status page). Operators route, group, inhibit and silence pipepulse's alerts there.

A firing alert is posted with an ``endsAt`` :data:`VALIDITY` ahead and posted again every
:data:`REPOST_EVERY` while its group is open (see :mod:`pipepulse.delivery.reposts`), as
Prometheus does: Alertmanager resolves an alert that is not posted again before its ``endsAt``,
so when pipepulse stops, its alerts resolve there within minutes instead of firing forever,
whatever the Alertmanager's own ``resolve_timeout``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pipepulse.delivery import bodies, sender
from pipepulse.delivery.channels.target import Options, Target
from pipepulse.schemas import format_timestamp
from pipepulse.wire.webhook_signature import NOTIFICATION_ID_HEADER

ALERTS_PATH = "/api/v2/alerts"
RESOLVING_STATUSES = ("active",)
# Prometheus's resend delay and the four of them it posts ahead as endsAt.
REPOST_EVERY = timedelta(minutes=1)
VALIDITY = 4 * REPOST_EVERY
WATCHDOG = "PipepulseWatchdog"


def endpoint(url: str) -> str:
    """The channel's Alertmanager URL with ``/api/v2/alerts`` appended to its path."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith(ALERTS_PATH):
        path += ALERTS_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _condition(payload: dict[str, Any]) -> tuple[str, bool]:
    """(condition, resolved) of a notification body from before alert groups."""
    kind = payload.get("type")
    data = payload.get("data") or {}
    if kind == "connection.status_changed":
        if data.get("to") in RESOLVING_STATUSES:
            return str(data.get("from")), True
        return str(data.get("to")), False
    if kind in ("connection.late", "connection.fresh"):
        return "late", kind == "connection.fresh"
    if kind == "connection.volume_anomaly":
        return "volume_anomaly", False
    return str(kind), False


def _watchdog(
    payload: dict[str, Any], organisation: str, link: str | None, now: datetime | None
) -> dict[str, Any]:
    """A heartbeat as Prometheus's ``Watchdog``: an alert that always fires while pipepulse
    runs, for Alertmanager to route to a dead man's switch; it ends two intervals on unless
    the next heartbeat comes."""
    data = payload.get("data") or {}
    at = now or datetime.fromisoformat(str(payload["occurred_at"]).replace("Z", "+00:00"))
    interval = timedelta(seconds=int(data.get("interval_seconds") or 60))
    headline, _change, why, _since = bodies.describe(payload)
    return {
        "labels": {
            "alertname": WATCHDOG,
            "organisation": organisation,
            "scheduler": str(data.get("scheduler") or ""),
            "severity": "none",
        },
        "annotations": {"summary": headline, "description": why},
        "startsAt": format_timestamp(at),
        "endsAt": format_timestamp(at + 2 * interval),
        "generatorURL": link,
    }


def alerts(payload: dict[str, Any], now: datetime | None = None) -> list[dict[str, Any]]:
    """The Alertmanager alerts of a notification body; a firing alert of a group ends
    :data:`VALIDITY` after ``now`` unless posted again."""
    organisation = str((payload.get("organisation") or {}).get("slug") or "")
    link = (payload.get("links") or {}).get("dashboard")
    grouped = payload.get("alerts")
    if grouped:  # the §7.4 group body
        out = []
        for alert in grouped:
            labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items() if v is not None}
            labels.setdefault("alertname", f"pipepulse_{labels.get('condition', 'alert')}")
            item: dict[str, Any] = {
                "labels": labels,
                "annotations": {
                    "reason": str(alert.get("reason") or ""),
                    "connection_name": str((alert.get("connection") or {}).get("name") or ""),
                },
                "startsAt": alert.get("started_at"),
                "generatorURL": (alert.get("links") or {}).get("dashboard") or link,
            }
            if alert.get("ended_at"):
                item["endsAt"] = alert["ended_at"]
            elif now is not None:
                item["endsAt"] = format_timestamp(now + VALIDITY)
            out.append(item)
        return out
    if payload.get("type") == bodies.HEARTBEAT_TYPE:
        return [_watchdog(payload, organisation, link, now)]
    connection = payload.get("connection") or {}
    headline, _change, why, since = bodies.describe(payload)
    condition, resolved = _condition(payload)
    labels = {
        "alertname": f"pipepulse_{condition}",
        "organisation": organisation,
        "connection": str(connection.get("id") or ""),
        "type": str(connection.get("type") or ""),
        "condition": condition,
    }
    at = since or payload.get("occurred_at")
    item = {
        "labels": {k: v for k, v in labels.items() if v},
        "annotations": {
            "summary": headline,
            "reason": why,
            "connection_name": str(connection.get("name") or ""),
        },
        "startsAt": at,
        "generatorURL": link,
    }
    if resolved:
        item["endsAt"] = at
    return [item]


async def deliver(
    client: sender.Client,
    channel: Target,
    payload: dict[str, Any],
    *,
    now: datetime,
    options: Options,
) -> sender.Outcome:
    body = bodies.encode(alerts(payload, now))  # type: ignore[arg-type]
    headers = {NOTIFICATION_ID_HEADER: str(payload["id"])}
    return await sender.post(
        client, endpoint(channel.url), body, headers, allow_private=options.allow_private
    )
