"""The one range planner: which part of a time range the rollups answer and which raw runs must.

Pure: no I/O, no clock. Every reader of the rollups (telemetry, metrics, organisation health,
the dashboard's charts) asks this module how to cut its range, so the hour and day arithmetic
lives in one place. Ranges are half-open, ``[start, end)``; a rolling window ``(now - span, now]``
is the half-open range ``[now - span + TICK, now + TICK)`` (timestamps carry microseconds, the
precision of both databases).

Beyond retention (SPEC §8) a plan is made for a :class:`Kept`: an edge older than the raw runs
moves back to the start of its hour (and, when days are allowed, one older than the hourly
rollups to the start of its day), so the rollups answer it; :attr:`Plan.precision` says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)

Range = tuple[datetime, datetime]
Precision = Literal["exact", "hour", "day"]


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
class Kept:
    """What the store still holds at an instant: raw runs of every time from ``raw_from`` on,
    hourly rollups from ``hours_from`` on, daily rollups for ever.

    Both bounds round the retention cutoffs up (to whole hours, and whole days), so whether or
    not retention has run since, everything from them on is still there.
    """

    raw_from: datetime
    hours_from: datetime

    def snap(self, t: datetime, *, days: bool = False) -> datetime:
        """Where an edge at ``t`` can be answered: itself, its hour's start, or its day's start.

        Every edge moves by the same rule, so adjacent ranges stay adjacent.
        """
        if days and t < self.hours_from:
            return floor_day(t)
        if t < self.raw_from:
            return floor_hour(t)
        return t


# Everything kept (no retention has run): plans are exact.
KEEP_ALL = Kept(raw_from=datetime.min.replace(tzinfo=UTC), hours_from=datetime.min.replace(tzinfo=UTC))


def kept(now: datetime, run_retention: timedelta, rollup_retention: timedelta) -> Kept:
    """What is kept at ``now`` with these retention periods."""
    return Kept(raw_from=ceil_hour(now - run_retention), hours_from=ceil_day(now - rollup_retention))


def precision(start: datetime, store: Kept, *, days: bool = False) -> Precision:
    """How precise an answer over a range from ``start`` is: exact inside raw retention, else to
    the hour (or the day, where the hourly rollups are gone too and days are allowed)."""
    if days and start < store.hours_from:
        return "day"
    return "exact" if start >= store.raw_from else "hour"


@dataclass(frozen=True)
class Plan:
    """``[start, end)`` cut into parts that never overlap and together cover it exactly.

    ``raw``: the partial hours at the edges, read from raw runs. ``hours``: whole hours, read
    from the hourly rollups. ``days``: whole UTC days, read from the daily rollups (only when
    the planner was asked for days). ``start`` and ``end`` are the range actually answered
    (snapped beyond retention), ``precision`` how exactly.
    """

    start: datetime
    end: datetime
    raw: tuple[Range, ...]
    hours: tuple[Range, ...]
    days: tuple[Range, ...] = ()
    precision: Precision = "exact"

    @property
    def whole_hours(self) -> Range | None:
        """The whole hours as one range (a plan made without days has at most one)."""
        if not self.hours:
            return None
        return self.hours[0][0], self.hours[-1][1]

    def in_raw(self, t: datetime) -> bool:
        return any(a <= t < b for a, b in self.raw)


def plan(start: datetime, end: datetime, *, days: bool = False, store: Kept = KEEP_ALL) -> Plan:
    """Cut ``[start, end)`` into raw edges and whole hours (and whole days when ``days``).

    Edges older than what ``store`` keeps are snapped first (see :meth:`Kept.snap`).
    """
    how = precision(start, store, days=days)
    start, end = store.snap(start, days=days), store.snap(end, days=days)
    if how != "exact":
        return replace(_plan(start, end, days=days), precision=how)
    return _plan(start, end, days=days)


def _plan(start: datetime, end: datetime, *, days: bool) -> Plan:
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


def rolling(now: datetime, span: timedelta, *, days: bool = False, store: Kept = KEEP_ALL) -> Plan:
    """The rolling window ``(now - span, now]`` of SPEC §3."""
    return plan(now - span + TICK, now + TICK, days=days, store=store)


@dataclass(frozen=True)
class Split:
    """Many adjacent ranges (buckets) planned at once.

    ``whole_hours`` holds, per range, its whole rollup hours (or None); ``raw`` is the merged
    list of intervals to read raw runs for, so adjacent buckets share one read.
    """

    whole_hours: list[Range | None]
    raw: list[Range]


def split(ranges: Sequence[Range], store: Kept = KEEP_ALL) -> Split:
    """Each range cut as :func:`plan` cuts it (without days), in one pass.

    A timeseries plans up to 10,000 buckets a request, so no :class:`Plan` is built per range:
    the cut is :func:`_plan`'s, inline (tests/rollups/test_plan.py holds the two equal).
    """
    whole: list[Range | None] = []
    raw: list[Range] = []
    for start, end in ranges:
        start, end = store.snap(start), store.snap(end)
        first, last = ceil_hour(start), floor_hour(end)
        if first < last:
            whole.append((first, last))
            edges: tuple[Range, ...] = ((start, first), (last, end))
        else:
            whole.append(None)
            edges = ((start, end),)
        for a, b in edges:
            if a >= b:
                continue
            if raw and raw[-1][1] == a:
                raw[-1] = (raw[-1][0], b)
            else:
                raw.append((a, b))
    return Split(whole_hours=whole, raw=raw)
