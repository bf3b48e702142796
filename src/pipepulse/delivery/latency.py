"""Detect to notify (SPEC §7.5): the instant of the change a notification tells of, so its
delivery can be timed from there to the receiver's 2xx."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipepulse.delivery.bodies import HEARTBEAT_TYPE, TEST_TYPE


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def change_at(payload: dict[str, Any]) -> datetime | None:
    """When the change happened: a per-event body's ``data.at``; for a group notification the
    latest start or end among the alerts it lists (the change that made it due). None for a
    test, a heartbeat, or a body that names no instant."""
    if payload.get("type") in (TEST_TYPE, HEARTBEAT_TYPE):
        return None
    alerts = payload.get("alerts")
    if alerts:
        instants = [
            found
            for alert in alerts
            for found in (_instant(alert.get("ended_at")) or _instant(alert.get("started_at")),)
            if found is not None
        ]
        return max(instants, default=None)
    return _instant((payload.get("data") or {}).get("at"))


def detect_to_notify_seconds(payload: dict[str, Any], delivered_at: datetime) -> float | None:
    """Seconds from the change to the receiver's 2xx (never negative), or None when untimed."""
    at = change_at(payload)
    if at is None:
        return None
    return max(0.0, (delivered_at - at).total_seconds())
