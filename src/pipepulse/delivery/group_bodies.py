"""What a group notification says (SPEC §7.4): the webhook body and the Slack message made
from it. At most :data:`MAX_LISTED` alerts are listed, firing first; the rest are counted."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from pipepulse.schemas import format_timestamp

GROUP_TYPE = "alert_group"
MAX_LISTED = 100
CONDITION_WORDS = {
    "error": "in Error",
    "degraded": "Degraded",
    "late": "late",
    "volume_anomaly": "off volume",
}


def group_link(public_url: str, organisation_id: int | None, group_id: str) -> str:
    """The group's page; a platform group's is the platform Incidents page (SPEC §7.7)."""
    if organisation_id is None:
        return f"{public_url.rstrip('/')}/platform/incidents/#{group_id}"
    return f"{public_url.rstrip('/')}/orgs/{organisation_id}/incidents/{group_id}/"


def alert_json(alert: Any, silenced_by: list[str], public_url: str) -> dict[str, Any]:
    connection = dict(alert.connection)
    page = f"{public_url.rstrip('/')}/orgs/{alert.organisation_id}/connections/{connection['id']}/"
    return {
        "labels": dict(alert.labels),
        "started_at": format_timestamp(alert.started_at),
        "ended_at": format_timestamp(alert.ended_at) if alert.ended_at is not None else None,
        "from": alert.from_status,
        "reason": alert.reason,
        "silenced_by": silenced_by,
        "connection": connection,
        "links": {"dashboard": page},
    }


def group_payload(
    *,
    notification_id: str,
    status: str,
    occurred_at: datetime,
    organisation: dict[str, Any] | None,
    group: dict[str, Any],
    alerts: list[dict[str, Any]],
    dashboard: str,
    platform: bool = False,
) -> dict[str, Any]:
    """The §7.4 body: the group, its alerts (at most 100, firing first) and the counts."""
    ordered = sorted(alerts, key=lambda a: (a["ended_at"] is not None, a["started_at"]))
    firing = sum(1 for a in alerts if a["ended_at"] is None)
    # A platform rule's group (SPEC §7.4) says so; its organisation may be null.
    scope = {"scope": "platform"} if platform else {}
    return {
        "id": notification_id,
        "type": GROUP_TYPE,
        "status": status,
        "occurred_at": format_timestamp(occurred_at),
        "organisation": organisation,
        "group": group,
        "alerts": ordered[:MAX_LISTED],
        "counts": {"firing": firing, "resolved": len(alerts) - firing},
        "truncated_alerts": max(0, len(alerts) - MAX_LISTED),
        "links": {"dashboard": dashboard},
        **scope,
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _words(alerts: list[dict[str, Any]]) -> list[str]:
    conditions = (str((a.get("labels") or {}).get("condition", "")) for a in alerts)
    return list(dict.fromkeys(CONDITION_WORDS.get(c, c) for c in conditions))


def _one_connection(payload: dict[str, Any]) -> str | None:
    """The connection's name when the group is one connection's (the default ``group_by``)."""
    key = payload.get("group", {}).get("key") or {}
    alerts = payload.get("alerts") or []
    if set(key) != {"connection"} or not alerts:
        return None
    return str((alerts[0].get("connection") or {}).get("name") or key["connection"])


def summary(payload: dict[str, Any]) -> tuple[str, str]:
    """(headline, detail): how many connections (or which one), which condition, the shared
    error template."""
    counts = payload.get("counts") or {}
    alerts = payload.get("alerts") or []
    key = payload.get("group", {}).get("key") or {}
    reasons = Counter(str((a.get("reason") or {}).get("text") or "") for a in alerts)
    reason = reasons.most_common(1)[0][0] if reasons else ""
    name = _one_connection(payload)
    if name is not None:
        firing = [a for a in alerts if a.get("ended_at") is None]
        ended = [a for a in alerts if a.get("ended_at") is not None]
        if payload.get("status") == "resolved" or not firing:
            return f"Resolved: {name} is no longer {' or '.join(_words(alerts))}", reason
        headline = f"{name} is {' and '.join(_words(firing))}"
        if ended:
            headline += f" (no longer {' or '.join(_words(ended))})"
        return headline, reason
    conditions = Counter(str((a.get("labels") or {}).get("condition", "")) for a in alerts)
    condition = conditions.most_common(1)[0][0] if conditions else ""
    word = CONDITION_WORDS.get(condition, condition)
    total = int(counts.get("firing", 0)) + int(counts.get("resolved", 0))
    noun = "connection" if total == 1 else "connections"
    if payload.get("status") == "resolved":
        headline = f"Resolved: {total} {noun} no longer {word}"
    else:
        headline = (
            f"{counts.get('firing', 0)} {noun if counts.get('firing', 0) != 1 else 'connection'} {word}"
        )
        if counts.get("resolved"):
            headline += f" ({counts['resolved']} resolved)"
    parts = [f"{k}={v}" for k, v in key.items()]
    detail = (f"Grouped by {', '.join(parts)}. " if parts else "") + (reason or "")
    return headline, detail.strip()


CONDITION_TITLES = {"error": "Error", "degraded": "Degraded", "late": "Late", "volume_anomaly": "Off volume"}
STATUS_TITLES = {"error": "Error", "degraded": "Degraded", "idle": "Idle", "active": "Active"}


def affected(payload: dict[str, Any]) -> str:
    """Who the group is about: the connection's name for one connection's group, else a count."""
    name = _one_connection(payload)
    if name is not None:
        return name
    counts = payload.get("counts") or {}
    total = int(counts.get("firing", 0)) + int(counts.get("resolved", 0))
    return f"{total} connection{'' if total == 1 else 's'}"


def describe(payload: dict[str, Any]) -> tuple[str, str, str, str | None]:
    """(headline, what changed, why, since) of a group notification, for the channels that
    speak in sentences (Teams, email, PagerDuty)."""
    headline, detail = summary(payload)
    alerts = payload.get("alerts") or []
    firing = [a for a in alerts if a.get("ended_at") is None]
    counts = payload.get("counts") or {}
    if len(alerts) == 1:
        alert = alerts[0]
        condition = str((alert.get("labels") or {}).get("condition", ""))
        title = CONDITION_TITLES.get(condition, condition)
        before = STATUS_TITLES.get(str(alert.get("from")), "Normal")
        change = f"{before} → {title}" if firing else f"{title} → resolved"
    else:
        change = f"{counts.get('firing', 0)} firing, {counts.get('resolved', 0)} resolved"
    since: str | None
    if firing:
        since = min(str(a.get("started_at")) for a in firing)
    else:
        since = max((str(a.get("ended_at")) for a in alerts), default=None)
    return headline, change, detail, since


def slack_body(payload: dict[str, Any]) -> dict[str, Any]:
    """One message summing up the group, with a link to it."""
    headline, detail = summary(payload)
    link = (payload.get("links") or {}).get("dashboard")
    names = [_escape(str((a.get("connection") or {}).get("name", ""))) for a in payload.get("alerts") or []][
        :10
    ]
    more = len(payload.get("alerts") or []) - len(names) + int(payload.get("truncated_alerts") or 0)
    listing = ", ".join(names) + (f" and {more} more" if more > 0 else "")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_escape(headline)}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _escape(detail) or "—"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": listing or "—"}]},
    ]
    if link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open incident"}, "url": link}
                ],
            }
        )
    return {"text": f"{headline}: {detail}" if detail else headline, "blocks": blocks}
