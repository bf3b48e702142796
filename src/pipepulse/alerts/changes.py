"""What an evaluation reports (SPEC §7.3), as pure functions: the changes between what was seen
last and what is seen now, the events they make, and the rule vocabulary's names for them.

No I/O, no clock. The evaluation hands in both sightings and the instants each change began;
the tests drive these functions through every combination.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pipepulse.rules import Status
from pipepulse.schemas import exact_timestamp, format_timestamp

EventType = Literal[
    "connection.status_changed", "connection.late", "connection.fresh", "connection.volume_anomaly"
]
STATUS_CHANGED: EventType = "connection.status_changed"
LATE: EventType = "connection.late"
FRESH: EventType = "connection.fresh"
VOLUME_ANOMALY: EventType = "connection.volume_anomaly"
ANOMALIES = frozenset({"drop", "spike"})
# The verdict a connection is compared with before it was ever judged, and the one an
# insufficient baseline counts as (no verdict is not an anomaly).
NORMAL = "normal"


@dataclass(frozen=True)
class Seen:
    """What one evaluation saw for a connection."""

    status: Status
    late: bool
    volume_verdict: str  # normal, drop or spike

    @classmethod
    def first(cls) -> Seen:
        """What a connection's first evaluation compares with (SPEC §7.3)."""
        return cls("idle", False, NORMAL)


@dataclass(frozen=True)
class Event:
    """One change, ready to be recorded. ``key`` names the change itself, so every replica that
    finds it computes the same key and the database keeps one."""

    type: EventType
    key: str
    at: datetime
    data: dict[str, Any]


def status_event(old: Status, new: Status, at: datetime, reason: dict[str, Any]) -> Event:
    """``at``: the exact start of the timeline interval in which ``new`` holds."""
    data = {"from": old, "to": new, "reason": reason, "at": format_timestamp(at)}
    return Event(STATUS_CHANGED, f"{new}@{exact_timestamp(at)}", at, data)


def late_event(*, since: datetime, sla: timedelta, last_delivery_at: datetime | None, now: datetime) -> Event:
    """Late from the instant the SLA ran out after ``since`` (the last delivery, or creation)."""
    at = since + sla
    data = {
        "at": format_timestamp(at),
        "sla_seconds": int(sla.total_seconds()),
        "last_delivery_at": format_timestamp(last_delivery_at) if last_delivery_at else None,
        "late_by_seconds": max(0, int((now - at).total_seconds())),
    }
    return Event(LATE, exact_timestamp(at), at, data)


def fresh_event(*, sla: timedelta, last_delivery_at: datetime | None, now: datetime) -> Event:
    """Fresh again: from the delivery that ended the lateness (``now`` when lateness ended for
    another reason, such as a state that is no longer scheduled)."""
    at = last_delivery_at if last_delivery_at is not None and last_delivery_at <= now else now
    data = {
        "at": format_timestamp(at),
        "sla_seconds": int(sla.total_seconds()),
        "last_delivery_at": format_timestamp(last_delivery_at) if last_delivery_at else None,
    }
    return Event(FRESH, exact_timestamp(at), at, data)


def volume_event(
    *,
    hour: datetime,
    actual: int,
    expected: float | None,
    lower: float | None,
    upper: float | None,
    verdict: str,
) -> Event:
    """An hour out of its band; known once the hour is complete, so ``at`` is its end."""
    at = hour + timedelta(hours=1)
    data = {
        "at": format_timestamp(at),
        "hour": format_timestamp(hour),
        "actual": actual,
        "expected": expected,
        "lower": lower,
        "upper": upper,
        "verdict": verdict,
    }
    return Event(VOLUME_ANOMALY, f"{verdict}@{exact_timestamp(hour)}", at, data)


def volume_changed(old_verdict: str, new_verdict: str) -> bool:
    """A verdict that becomes an anomaly (or turns from a drop into a spike) is an event; a
    return to normal only updates what was seen."""
    return new_verdict in ANOMALIES and new_verdict != old_verdict


def notifiable(old: Status, new: Status) -> bool:
    """Whether some rule could ask for a change of status from ``old`` to ``new``."""
    return new != "active" or old in ("error", "degraded")


def rule_event(event: Event) -> str | None:
    """The rule vocabulary's name for an event, or None when no rule can ask for it."""
    if event.type == STATUS_CHANGED:
        old, new = event.data["from"], event.data["to"]
        if new == "active":
            return "recovered" if old in ("error", "degraded") else None
        return f"status:{new}"
    return {LATE: "late", FRESH: "fresh", VOLUME_ANOMALY: "volume_anomaly"}[event.type]
