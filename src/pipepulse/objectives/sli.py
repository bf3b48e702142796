"""What counts as bad time for each indicator (SPEC §7.6), as spans. Pure: no I/O.

- ``availability``: time in ``error`` on the §7.1 timeline.
- ``freshness``: time late by §7.2 — the connection's state is ``connected`` or ``error`` and the
  time since the last delivery (or since ``created_at``, before any) exceeds the SLA.

Lateness is read with the connection's state as it is now: pipepulse keeps no history of the
state, so a paused connection is never late, over its whole window (docs/objectives.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pipepulse.alerts import maintenance, matchers
from pipepulse.objectives.spans import Span, normalise
from pipepulse.status.timeline import Interval

Indicator = Literal["availability", "freshness"]
INDICATORS: tuple[Indicator, ...] = ("availability", "freshness")
# The alert condition whose time each indicator counts as bad: maintenance windows are matched
# against the connection's labels with this condition, as they would silence its alert.
CONDITION: dict[Indicator, str] = {"availability": "error", "freshness": "late"}
WATCHED_STATES = frozenset({"connected", "error"})


def error_spans(intervals: Iterable[Interval]) -> list[Span]:
    """The ``error`` intervals of a timeline."""
    return normalise((i.start, i.end) for i in intervals if i.status == "error")


def late_spans(
    deliveries: Sequence[datetime], created_at: datetime, sla: timedelta, state: str, end: datetime
) -> list[Span]:
    """When the connection was late before ``end``, given every delivery up to ``end`` that
    matters (the last one at or before the range of interest, and all after it), ascending.

    Late at ``t`` when ``t - anchor > sla``, the anchor being the latest delivery at or before
    ``t`` (or ``created_at`` before the first). A single instant differs at the edges, not time.
    """
    if state not in WATCHED_STATES:
        return []
    anchors = [created_at, *deliveries] if not deliveries or created_at < deliveries[0] else list(deliveries)
    bounds = [*anchors[1:], end]
    return normalise((anchor + sla, min(until, end)) for anchor, until in zip(anchors, bounds, strict=True))


def maintenance_spans(
    windows: Iterable[Any], labels: Mapping[str, str], start: datetime, end: datetime
) -> list[Span]:
    """The occurrences within ``[start, end)`` of the windows whose matchers match ``labels``."""
    out: list[Span] = []
    for window in windows:
        if not matchers.matches(dict(window.matchers), labels):
            continue
        tz = maintenance.zone(window.time_zone)
        at = maintenance.start_time(window.start)
        length = timedelta(minutes=window.duration_minutes)
        # Local days from the earliest that could reach into the range (a window lasts at
        # most a week, offsets at most a day) to the last that can start in it.
        day = (start - length - timedelta(days=2)).astimezone(tz).date()
        last = (end + timedelta(days=2)).astimezone(tz).date()
        while day <= last:
            if day.weekday() in window.weekdays:
                begin = maintenance.occurrence_start(day, at, tz)
                if begin < end and begin + length > start:
                    out.append((max(begin, start), min(begin + length, end)))
            day += timedelta(days=1)
    return normalise(out)
