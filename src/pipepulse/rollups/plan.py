"""The one range planner: which part of a time range the rollups answer and which raw runs must.

Pure: no I/O, no clock. Every reader of the rollups (telemetry, metrics, organisation health,
the dashboard's charts) asks this module how to cut its range, so the hour and day arithmetic
lives in one place. Ranges are half-open, ``[start, end)``; a rolling window ``(now - span, now]``
is the half-open range ``[now - span + TICK, now + TICK)`` (timestamps carry microseconds, the
precision of both databases).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)

Range = tuple[datetime, datetime]


def floor_hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def ceil_hour(value: datetime) -> datetime:
    floor = floor_hour(value)
    return floor if floor == value else floor + HOUR


def floor_day(value: datetime) -> datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def ceil_day(value: datetime) -> datetime:
    floor = floor_day(value)
    return floor if floor == value else floor + DAY


def hours(start: datetime, end: datetime) -> Iterator[datetime]:
    """Every hour start in ``[start, end)``, stepping from ``start``."""
    hour = start
    while hour < end:
        yield hour
        hour += HOUR


def _nonempty(ranges: Iterable[Range]) -> tuple[Range, ...]:
    return tuple((a, b) for a, b in ranges if a < b)


@dataclass(frozen=True)
class Plan:
    """``[start, end)`` cut into parts that never overlap and together cover it exactly.

    ``raw``: the partial hours at the edges, read from raw runs. ``hours``: whole hours, read
    from the hourly rollups. ``days``: whole UTC days, read from the daily rollups (only when
    the planner was asked for days).
    """

    start: datetime
    end: datetime
    raw: tuple[Range, ...]
    hours: tuple[Range, ...]
    days: tuple[Range, ...] = ()

    @property
    def whole_hours(self) -> Range | None:
        """The whole hours as one range (a plan made without days has at most one)."""
        if not self.hours:
            return None
        return self.hours[0][0], self.hours[-1][1]

    def in_raw(self, t: datetime) -> bool:
        return any(a <= t < b for a, b in self.raw)


def plan(start: datetime, end: datetime, *, days: bool = False) -> Plan:
    """Cut ``[start, end)`` into raw edges and whole hours (and whole days when ``days``)."""
    first, last = ceil_hour(start), floor_hour(end)
    if first >= last:
        return Plan(start, end, raw=_nonempty([(start, end)]), hours=())
    raw = _nonempty([(start, first), (last, end)])
    first_day, last_day = ceil_day(first), floor_day(last)
    if not days or first_day >= last_day:
        return Plan(start, end, raw=raw, hours=((first, last),))
    return Plan(
        start,
        end,
        raw=raw,
        hours=_nonempty([(first, first_day), (last_day, last)]),
        days=((first_day, last_day),),
    )


def rolling(now: datetime, span: timedelta, *, days: bool = False) -> Plan:
    """The rolling window ``(now - span, now]`` of SPEC §3."""
    return plan(now - span + TICK, now + TICK, days=days)


@dataclass(frozen=True)
class Split:
    """Many adjacent ranges (buckets) planned at once.

    ``whole_hours`` holds, per range, its whole rollup hours (or None); ``raw`` is the merged
    list of intervals to read raw runs for, so adjacent buckets share one read.
    """

    whole_hours: list[Range | None]
    raw: list[Range]


def split(ranges: Sequence[Range]) -> Split:
    whole: list[Range | None] = []
    raw: list[Range] = []
    for start, end in ranges:
        p = plan(start, end)
        whole.append(p.whole_hours)
        for a, b in p.raw:
            if raw and raw[-1][1] == a:
                raw[-1] = (raw[-1][0], b)
            else:
                raw.append((a, b))
    return Split(whole_hours=whole, raw=raw)
