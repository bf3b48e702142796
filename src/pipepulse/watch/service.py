"""Status history (SPEC §7.1) and connection health now (§7.2) for one connection.

The statuses come from the pure timeline (``watch.timeline``), which evaluates §3's one status
rule; nothing here decides a status. This module only chooses which runs to read: the range
and the 24 hours before it, widened step by step only when an incident or the current
interval began earlier (or, for an incident, ends later) than what was read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import WarehouseConnection
from pipepulse.db.rows import RunRow
from pipepulse.errors import Invalid
from pipepulse.rollups.plan import HOUR, floor_hour
from pipepulse.rules import DAY, Status, Thresholds
from pipepulse.watch import repository
from pipepulse.watch.reasons import Reason, paused
from pipepulse.watch.timeline import (
    TICK,
    Incident,
    Interval,
    Prior,
    State,
    Timeline,
    finished_runs,
    incidents,
    mttr,
    state_at,
    time_in_status,
    timeline,
    uptime_percent,
)
from pipepulse.watch.verdicts import Freshness, Volume, baseline_hours, freshness, freshness_sla, volume

DEFAULT_RANGE = timedelta(days=7)
MAX_RANGE = timedelta(days=90)


class _Runs:
    """The runs of one connection read so far, by finished time ``(lo, hi]``; widened on demand."""

    def __init__(self, session: AsyncSession, connection_id: str, thresholds: Thresholds) -> None:
        self.session = session
        self.connection_id = connection_id
        self.thresholds = thresholds
        self.window = thresholds.orphan_window
        self.rows: list[RunRow] = []
        self.lo: datetime | None = None
        self.hi: datetime | None = None
        self._earliest: datetime | None = None
        self._bounds_read = False

    async def _read(self, after: datetime, until: datetime) -> None:
        if after < until:
            self.rows += await repository.finished_between(
                self.session, self.connection_id, after, until, self.window
            )

    async def cover(self, lo: datetime, hi: datetime) -> None:
        """Make sure every run finished in ``(lo, hi]`` has been read."""
        if self.lo is None or self.hi is None:
            await self._read(lo, hi)
            self.lo, self.hi = lo, hi
            return
        if lo < self.lo:
            await self._read(lo, self.lo)
            self.lo = lo
        if hi > self.hi:
            await self._read(self.hi, hi)
            self.hi = hi

    async def earliest(self) -> datetime | None:
        """When the connection's first run finished (None: no run has a finished time)."""
        if not self._bounds_read:
            found = await repository.bounds(self.session, self.connection_id)
            self._earliest = found.earliest_finished(self.window)
            self._bounds_read = True
        return self._earliest

    async def timeline(self, start: datetime, end: datetime) -> Timeline:
        lo = start - DAY - TICK
        await self.cover(lo, end)
        earliest = await self.earliest()
        any_before = earliest is not None and earliest <= lo
        prior = Prior(
            last_delivery_at=await repository.last_delivery(self.session, self.connection_id, lo)
            if any_before
            else None,
            any_finished=any_before,
        )
        return timeline(finished_runs(self.rows, self.window), start, end, self.thresholds, prior)


async def _began_before(runs: _Runs, history: Timeline, t: datetime) -> bool:
    """Whether the interval containing ``t`` began before the timeline's start (so it is cut)."""
    interval = history.at(t)
    if interval.start != history.start or not history.held_before:
        return False
    earliest = await runs.earliest()
    # Before the first run finished the status was idle, and had always been.
    return earliest is not None and history.start >= earliest


@dataclass(frozen=True)
class StatusHistory:
    start: datetime
    end: datetime
    intervals: list[Interval]
    time_in_status: dict[Status, timedelta]
    uptime_percent: float
    incidents: list[Incident]
    mttr: timedelta | None
    as_of: datetime


def resolve_range(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The asked range with its defaults (the last 7 days up to now), or a 422 saying what to fix."""
    end = end if end is not None else now
    start = start if start is not None else end - DEFAULT_RANGE
    if end > now:
        raise Invalid("'to' must not be in the future (at most now)", loc=("query", "to"))
    if start >= end:
        raise Invalid("'from' must be before 'to'", loc=("query", "from"))
    if end - start > MAX_RANGE:
        raise Invalid("the range from 'from' to 'to' must be at most 90 days", loc=("query", "from"))
    return start, end


async def status_history(
    session: AsyncSession,
    connection: WarehouseConnection,
    start: datetime,
    end: datetime,
    now: datetime,
    thresholds: Thresholds,
) -> StatusHistory:
    """The timeline over ``[start, end)`` with every incident that overlaps it, whole."""
    runs = _Runs(session, connection.id, thresholds)
    # One microsecond either side tells whether the edge intervals go on beyond the range.
    lo, hi, present = start - TICK, end + TICK, now + TICK
    history = await runs.timeline(lo, hi)
    step = DAY
    while history.at(start).status == "error" and await _began_before(runs, history, start):
        lo -= step
        step *= 2
        history = await runs.timeline(lo, hi)
    step = DAY
    while hi < present and history.at(end - TICK).status == "error" and history.at(end - TICK).end == hi:
        hi = min(hi + step, present)
        step *= 2
        history = await runs.timeline(lo, hi)

    intervals = history.clip(start, end)
    first = intervals[0]
    if first.start == start and history.at(start).start < start:
        # An interval that began before the range is worded as it stood at the range's start.
        at_start = state_at(history.runs, start, thresholds, history.prior).reason()
        intervals[0] = Interval(first.status, first.start, first.end, at_start, first.opened_by)
    if connection.state == "paused" and end == now:
        last = intervals[-1]
        intervals[-1] = Interval(last.status, last.start, last.end, paused(last.reason), last.opened_by)
    found = [
        i
        for i in incidents(history, open_at_end=hi == present)
        if i.started_at < end and (i.ended_at is None or i.ended_at > start)
    ]
    return StatusHistory(
        start=start,
        end=end,
        intervals=intervals,
        time_in_status=time_in_status(intervals, start, end),
        uptime_percent=uptime_percent(intervals, start, end),
        incidents=found,
        mttr=mttr(found, start, end),
        as_of=now,
    )


@dataclass(frozen=True)
class Current:
    """A connection's status now and the timeline interval it is in."""

    state: State
    reason: Reason
    since: datetime | None  # None: the status has never changed (no run ever changed it)
    interval: Interval
    failing_runs_since: int  # failing runs finished since the interval began


async def current(
    session: AsyncSession, connection: WarehouseConnection, now: datetime, thresholds: Thresholds
) -> Current:
    """The status at ``now`` (as the status engine gives it), its reason, and since when it holds.

    Reads the last two days of runs; only a status that has held longer reads further back,
    a widening step at a time, until the instant it began.
    """
    runs = _Runs(session, connection.id, thresholds)
    end = now + TICK
    lo = now - DAY
    history = await runs.timeline(lo, end)
    step = DAY
    while await _began_before(runs, history, now):
        lo -= step
        step *= 2
        history = await runs.timeline(lo, end)
    interval = history.at(now)
    unbounded = interval.start == history.start and history.held_before
    state = state_at(history.runs, now, thresholds, history.prior)
    reason = state.reason(now=now)
    if connection.state == "paused":
        reason = paused(reason)
    return Current(
        state=state,
        reason=reason,
        since=None if unbounded else interval.start,
        interval=interval,
        failing_runs_since=history.failing_between(interval.start, end),
    )


@dataclass(frozen=True)
class Health:
    current: Current
    since: datetime
    open_incident: Incident | None
    freshness: Freshness
    volume: Volume
    as_of: datetime


async def health(
    session: AsyncSession, connection: WarehouseConnection, now: datetime, thresholds: Thresholds
) -> Health:
    """SPEC §7.2: the status now with its reason and since when, the open incident, freshness
    against the SLA and the last complete hour's volume against its baseline."""
    found = await current(session, connection, now, thresholds)
    state = found.state
    open_incident = None
    if state.status == "error":
        opener = found.interval.opened_by
        open_incident = Incident(
            started_at=found.interval.start,
            ended_at=None,
            first_error=opener.message if opener is not None else None,
            first_error_run_id=opener.id if opener is not None else None,
            failing_runs=found.failing_runs_since,
        )
    sla = freshness_sla(
        connection.freshness_sla_seconds, connection.schedule_interval_seconds, thresholds.orphan_window
    )
    return Health(
        current=found,
        since=found.since if found.since is not None else min(connection.created_at, now),
        open_incident=open_incident,
        freshness=freshness(
            state=connection.state,
            sla=sla,
            last_delivery_at=state.last_delivery_at,
            created_at=connection.created_at,
            now=now,
        ),
        volume=await hour_volume(session, connection.id, now, thresholds),
        as_of=now,
    )


async def hour_volume(
    session: AsyncSession, connection_id: str, now: datetime, thresholds: Thresholds
) -> Volume:
    """The latest complete UTC hour's events against the same hour on the previous 7 days."""
    hour = floor_hour(now) - HOUR
    previous = baseline_hours(hour)
    volumes = await repository.hour_volumes(
        session, connection_id, [hour, *previous], thresholds.orphan_window
    )
    return volume(hour, volumes.get(hour, 0), [volumes[h] for h in previous if h in volumes])
