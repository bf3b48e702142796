"""What a notification says: the signed JSON webhook body and the Slack message made from it.

The webhook body is built once, when its event is recorded, and stored with the notification,
so every attempt sends the same bytes' meaning and the same ``id``. A Slack message is
derived from that stored body at send time.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pipepulse import wording
from pipepulse.delivery import group_bodies
from pipepulse.schemas import format_timestamp

STATUS_WORDS = {"error": "Error", "degraded": "Degraded", "idle": "Idle", "active": "Active"}
TEST_TYPE = "test"
HEARTBEAT_TYPE = "heartbeat"


def dashboard_link(public_url: str, organisation_id: int | None, connection_id: str | None) -> str:
    """The Streaming Status page of a connection (the organisation's Alerts page for a test;
    the platform Alerts page for a platform channel's)."""
    base = public_url.rstrip("/")
    if organisation_id is None:
        return f"{base}/platform/alerts/"
    if connection_id is None:
        return f"{base}/orgs/{organisation_id}/alerts/"
    return f"{base}/orgs/{organisation_id}/connections/{connection_id}/"


def webhook_payload(
    *,
    notification_id: str,
    type: str,
    occurred_at: datetime,
    organisation: dict[str, Any] | None,
    connection: dict[str, Any] | None,
    data: dict[str, Any],
    telemetry: dict[str, Any] | None,
    dashboard: str,
) -> dict[str, Any]:
    """SPEC §7.3's webhook body."""
    return {
        "id": notification_id,
        "type": type,
        "occurred_at": format_timestamp(occurred_at),
        "organisation": organisation,
        "connection": connection,
        "data": data,
        "telemetry": telemetry,
        "links": {"dashboard": dashboard},
    }


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=False).encode()


def _escape(text: str) -> str:
    """Slack's mrkdwn needs only these three escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _when(iso: str | None) -> str:
    if not iso:
        return "—"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return _escape(iso)
    # Slack shows this in each reader's own time zone; the fallback text is UTC.
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{_escape(iso)}>"


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _count(value: Any) -> str:
    """An expected count or a band's edge reads as a whole number of events."""
    if isinstance(value, int | float):
        return wording.number(round(value))
    return str(value)


def describe(payload: dict[str, Any]) -> tuple[str, str, str, str | None]:
    """(headline, what changed, why, since) of a notification, in words.

    Since SPEC §7.4 every rule notifies per alert group; the per-event wordings remain for
    test sends, heartbeats and the per-event notifications queued before migration 0020 (still
    retried for up to a day after an upgrade)."""
    kind = payload.get("type")
    if kind == group_bodies.GROUP_TYPE:
        return group_bodies.describe(payload)
    data = payload.get("data") or {}
    connection = payload.get("connection") or {}
    name = str(connection.get("name") or "A connection")
    if kind == "connection.status_changed":
        old, new = (STATUS_WORDS.get(str(data.get(k)), str(data.get(k))) for k in ("from", "to"))
        reason = (data.get("reason") or {}).get("text") or ""
        return f"{name} is now {new} (was {old})", f"{old} → {new}", reason, data.get("at")
    if kind == "connection.late":
        late_by = int(data.get("late_by_seconds") or 0)
        why = (
            "No delivery for longer than its freshness SLA of "
            f"{wording.span(int(data.get('sla_seconds') or 0))} (late by {wording.span(late_by)})."
        )
        return f"{name} is late", "Fresh → Late", why, data.get("at")
    if kind == "connection.fresh":
        return (
            f"{name} is delivering again",
            "Late → Fresh",
            "A run delivered events within its SLA.",
            data.get("at"),
        )
    if kind == "connection.volume_anomaly":
        verdict = str(data.get("verdict"))
        band = f"{_count(data.get('lower'))} to {_count(data.get('upper'))}"
        why = (
            f"{_count(data.get('actual'))} events in the hour from {data.get('hour')}; expected "
            f"{_count(data.get('expected'))} (normal range {band})."
        )
        return f"{name}: volume {verdict}", f"Volume normal → {verdict}", why, data.get("at")
    if kind == HEARTBEAT_TYPE:
        every = wording.span(int(data.get("interval_seconds") or 0))
        return (
            "pipepulse is evaluating (heartbeat)",
            "Nothing: this is a heartbeat",
            f"Scheduler {data.get('scheduler')} is evaluating connections; it sends one every {every}."
            " If they stop, pipepulse has stopped watching.",
            None,
        )
    if kind == TEST_TYPE:
        return (
            "Test notification from pipepulse",
            "Nothing: this is a test",
            str(data.get("message", "")),
            None,
        )
    return f"{name}: {kind}", str(kind), "", data.get("at")


def slack_body(payload: dict[str, Any]) -> dict[str, Any]:
    """An incoming-webhook message: which connection, what changed, why, since when, and a link."""
    headline, change, why, since = describe(payload)
    link = (payload.get("links") or {}).get("dashboard")
    connection = payload.get("connection") or {}
    name = _escape(str(connection.get("name") or "—"))
    fields = [
        {
            "type": "mrkdwn",
            "text": f"*Connection*\n<{link}|{name}>" if link and connection else f"*Connection*\n{name}",
        },
        {"type": "mrkdwn", "text": f"*Change*\n{_escape(change)}"},
        {"type": "mrkdwn", "text": f"*Reason*\n{_escape(why) or '—'}"},
        {"type": "mrkdwn", "text": f"*Since*\n{_when(since)}"},
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_escape(headline)}*"}},
        {"type": "section", "fields": fields},
    ]
    if link:
        label = "Open Streaming Status" if connection else "Open Alerts"
        blocks.append(
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": label}, "url": link}],
            }
        )
    text = f"{headline}: {why}" if why else headline
    return {"text": text, "blocks": blocks}
