"""``pagerduty``: PagerDuty Events API v2 (SPEC §7.5).

Each alert (a group since §7.4; today a connection's condition) is one PagerDuty alert keyed
by ``dedup_key``: ``trigger`` when it fires or changes, ``acknowledge`` when acknowledged in
pipepulse, ``resolve`` when it resolves. The events URL is ``PIPEPULSE_PAGERDUTY_EVENTS_URL``,
posted to as is; it is the operator's setting, not a tenant's, so it is not held to the
public-address rule (tests point it at loopback).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipepulse.delivery import bodies, group_bodies, sender
from pipepulse.delivery.channels.target import Options, Target
from pipepulse.wire.webhook_signature import NOTIFICATION_ID_HEADER

MAX_SUMMARY = 1024
SOURCE = "pipepulse"
RECOVERED_STATUSES = ("active",)


def dedup_key(payload: dict[str, Any]) -> str:
    """The group's id; before groups, a key stable across a condition's fire and resolve."""
    group = payload.get("group") or {}
    if group.get("id"):
        return str(group["id"])
    connection = (payload.get("connection") or {}).get("id")
    kind = str(payload.get("type"))
    if connection is None:
        return str(payload["id"])
    if kind in ("connection.late", "connection.fresh"):
        return f"{connection}:late"
    if kind == "connection.volume_anomaly":
        return f"{connection}:volume:{(payload.get('data') or {}).get('hour')}"
    return f"{connection}:status"


def action(payload: dict[str, Any]) -> str:
    if payload.get("acknowledged") or payload.get("type") == "alert_group.acknowledged":
        return "acknowledge"
    if payload.get("status") == "resolved":
        return "resolve"
    kind = payload.get("type")
    data = payload.get("data") or {}
    if kind == "connection.fresh":
        return "resolve"
    if kind == "connection.status_changed" and data.get("to") in RECOVERED_STATUSES:
        return "resolve"
    return "trigger"


def severity(payload: dict[str, Any]) -> str:
    """critical → ``critical``, warning → ``warning`` (the rule's severity since §7.4)."""
    for alert in payload.get("alerts") or []:
        if (alert.get("labels") or {}).get("severity") == "critical":
            return "critical"
    if payload.get("alerts"):
        return "warning"
    kind = payload.get("type")
    if kind == bodies.TEST_TYPE:
        return "info"
    if kind == "connection.status_changed" and (payload.get("data") or {}).get("to") == "error":
        return "critical"
    return "warning"


def event(routing_key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The Events API v2 body."""
    headline, change, why, _since = bodies.describe(payload)
    what = action(payload)
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": what, "dedup_key": dedup_key(payload)}
    if what != "trigger":
        return body
    link = (payload.get("links") or {}).get("dashboard")
    summary = f"{headline}: {why}" if why else headline
    body["payload"] = {
        "summary": summary[:MAX_SUMMARY],
        "source": SOURCE,
        "severity": severity(payload),
        "timestamp": payload.get("occurred_at"),
        "component": (
            group_bodies.affected(payload)
            if payload.get("type") == group_bodies.GROUP_TYPE
            else str((payload.get("connection") or {}).get("name") or "") or None
        ),
        "group": str((payload.get("organisation") or {}).get("slug") or "") or None,
        "class": str(payload.get("type")),
        "custom_details": {
            "change": change,
            "reason": why,
            "notification_id": payload.get("id"),
            "connection": payload.get("connection"),
            "data": payload.get("data"),
            "alerts": payload.get("alerts"),
        },
    }
    body["payload"] = {k: v for k, v in body["payload"].items() if v is not None}
    if link:
        body["links"] = [{"href": link, "text": "pipepulse"}]
    body["client"] = SOURCE
    if link:
        body["client_url"] = link
    return body


async def deliver(
    client: sender.Client,
    channel: Target,
    payload: dict[str, Any],
    *,
    now: datetime,  # noqa: ARG001 - every kind's entry takes the same arguments
    options: Options,
) -> sender.Outcome:
    if not channel.routing_key:
        return sender.Outcome(False, None, "not sent: the channel has no routing key")
    body = bodies.encode(event(channel.routing_key, payload))
    headers = {NOTIFICATION_ID_HEADER: str(payload["id"])}
    # The operator's URL: an on-premises proxy or a test receiver may well be private.
    return await sender.post(client, options.pagerduty_events_url, body, headers, allow_private=True)
