"""Status history (SPEC §7.1) and connection health now (§7.2) for one connection.

The statuses come from the pure timeline (``status.timeline``), which evaluates §3's one status
rule; nothing here decides a status. This module only chooses which runs to read: the range
and the 24 hours before it, widened step by step only when an incident or the current
interval began earlier (or, for an incident, ends later) than what was read.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pipepulse.db.models import WarehouseConnection
from pipepulse.errors import Invalid
from pipepulse.rollups.plan import HOUR, floor_hour, kept
from pipepulse.rules import DAY, Status, Thresholds
from pipepulse.schemas import format_timestamp
from pipepulse.status import repository
from pipepulse.status.reasons import Reason, paused
from pipepulse.status.steady import steady_since
from pipepulse.status.timeline import (
    TICK,
    FinishedRun,
    Incident,
    Interval,
    Prior,
    State,
    Timeline,
    in_order,
    incidents,
    mttr,
    reasoned,
    time_in_status,
    timeline,
    uptime_percent,
)
from pipepulse.status.verdicts import Freshness, Volume, baseline_hours, freshness, freshness_sla, volume

DEFAULT_RANGE = timedelta(days=7)
MAX_RANGE = timedelta(days=90)


class _Runs:
    """Reads one connection's runs by finished time and builds timelines from them."""

    def __init__(
        self, session: AsyncSession, connection_id: str, thresholds: Thresholds, *, every_run: bool = False
    ) -> None:
        self.session = session
        self.connection_id = connection_id
        self.thresholds = thresholds
        self.window = thresholds.orphan_window
        self.every_run = every_run
        self._earliest: datetime | None = None
        self._bounds_read = False

    async def plain(self) -> AsyncConnection:
        """The session's connection, for statements of columns only: their rows come back as
        tuples, without the ORM's work per row (hundreds of runs a status history)."""
        return await self.session.connection()

    async def earliest(self) -> datetime | None:
        """When the connection's first run finished (None: no run has a finished time)."""
        if not self._bounds_read:
            found = await repository.bounds(await self.plain(), self.connection_id)
            self._earliest = found.earliest_finished(self.window)
            self._bounds_read = True
        return self._earliest

    async def read(self, after: datetime, until: datetime) -> list[FinishedRun]:
        """The runs finished in ``(after, until]``."""
        if after >= until:
            return []
        return await repository.finished_runs_of(
            await self.plain(), self.connection_id, after, until, self.window
        )

    async def timeline(
        self, start: datetime, end: datetime, rows: list[FinishedRun] | None = None
    ) -> tuple[Timeline, list[FinishedRun]]:
        """The timeline over ``[start, end)``; reads the runs it needs unless given them."""
        lo = start - DAY - TICK
        if rows is None:
            rows = await self.read(lo, end)
        return timeline(in_order(rows), start, end, self.thresholds, await self.prior(lo)), rows

    async def prior(self, lo: datetime) -> Prior:
        """What finished at or before ``lo``, as a timeline of the runs after it needs it."""
        earliest = await self.earliest()
        any_before = earliest is not None and earliest <= lo
        return Prior(
            last_delivery_at=await repository.last_delivery(await self.plain(), self.connection_id, lo)
            if any_before
            else None,
            any_finished=any_before,
        )

    async def history(self, start: datetime, end: datetime, at: datetime) -> Timeline:
        """The timeline over ``[start, end)``, exact at every instant, its reasons and counts
        included, and its state exact at ``at`` too.

        Reads the change points of the range (``repository.change_point_runs``) and sweeps
        them for the statuses, then reads every run only in the 24 hours before each
        interval's start and before ``at``, where the reasons count them (SPEC §7.1: only a
        change of kind moves the status; ``timeline.reasoned``). With ``every_run``, reads
        every run instead: the two give the same timeline.
        """
        if self.every_run:
            return (await self.timeline(start, end))[0]
        lo = start - DAY - TICK
        points = await repository.change_point_runs(
            await self.plain(),
            self.connection_id,
            lo,
            end - TICK,
            self.window,
            self.thresholds.error_status_runs,
        )
        prior = await self.prior(lo)
        point_runs, point_upto = [p.run for p in points], [p.failing_upto for p in points]
        rough = timeline(point_runs, start, end, self.thresholds, prior, point_upto)
        instants = sorted({i.start for i in rough.intervals} | {at})
        times = [r.time for r in point_runs]
        # The points in order, each stretch's points replaced by every run of the stretch.
        runs: list[FinishedRun] = []
        upto: list[int] = []
        taken = 0
        for first, until in _stretches(times, instants):
            runs += point_runs[taken : first + 1]
            upto += point_upto[taken : first + 1]
            base = points[first] if first >= 0 else None
            after = lo if base is None else base.run.time - TICK
            failing = 0 if base is None else base.failing_upto
            for run in in_order(await self.read(after, until)):
                if base is not None and _order(run) <= _order(base.run):
                    continue
                failing += run.failing
                runs.append(run)
                upto.append(failing)
            taken = bisect_right(times, until)
        runs += point_runs[taken:]
        upto += point_upto[taken:]
        return reasoned(rough, runs, self.thresholds, upto)

    async def whole_streak(self, history: Timeline, found: Incident) -> Incident:
        """The incident with its failing streak read back beyond the runs of ``history``."""
        if not found.streak_cut or not history.runs:
            return found
        earlier = await repository.failing_streak_before(
            self.session, self.connection_id, history.runs[0].time, self.window
        )
        return found.extended(earlier)

    async def began_before(self, history: Timeline, t: datetime) -> bool:
        """Whether the interval containing ``t`` began before the timeline's start (it is cut)."""
        if history.at(t).start != history.start or not history.held_before:
            return False
        earliest = await self.earliest()
        # Before the first run finished the status was idle, and had always been.
        return earliest is not None and history.start >= earliest

    async def reach_back(self, history: Timeline) -> Reach:
        """Where the timeline's first interval, cut at its start, really began.

        Walks back a chunk at a time (1, 2, 4 … days), each chunk a timeline of its own runs
        (and the day before them), so the cost grows with how long the status has held, once.
        """
        edge = history.start
        failing = 0
        steady = await self.skip_steady(history)
        if steady is not None:
            edge, failing = steady
        step = DAY
        earliest = await self.earliest()
        while True:
            lo = edge - step
            chunk, _rows = await self.timeline(lo, edge + TICK)
            last = chunk.intervals[-1]
            if last.start != chunk.start or not chunk.held_before:
                return Reach(
                    last.start,
                    last.opened_by,
                    last.reason,
                    failing + chunk.failing_between(last.start, edge),
                    chunk.state(last.start - TICK).status,
                )
            if earliest is None or lo < earliest:
                return Reach(None, None, last.reason, failing, "idle")
            failing += chunk.failing_between(lo, edge)
            edge = lo
            step *= 2

    async def skip_steady(self, history: Timeline) -> tuple[datetime, int] | None:
        """Skip back over a stretch the hourly rollups prove steady: (its start, the failing runs
        finished from there to the timeline's start), or None when they cannot tell.

        A pipeline that has been active (or degraded) for weeks is then read for a day or two
        around where its status began, not for the weeks.
        """
        status = history.intervals[0].status
        earliest = await self.earliest()
        edge = history.start
        if status not in ("active", "degraded") or earliest is None or edge - earliest < 2 * DAY:
            return None
        whole = floor_hour(edge)
        # The hour before the rollups' last whole hour up to the edge, from the runs.
        check, _rows = await self.timeline(whole - HOUR, edge + TICK)
        if len(check.intervals) != 1:
            return None
        hours = await repository.hourly_counts(self.session, self.connection_id, whole, self.window)
        start = steady_since(status, hours, whole, self.thresholds.error_status_runs)
        if start is None or start > whole - HOUR:
            return None
        failing = sum(c.failing for hour, c in hours.items() if start <= hour < whole)
        return start, failing + check.failing_between(whole, edge)


def _order(run: FinishedRun) -> tuple[datetime, datetime, str]:
    """A run's place in §3's order of "latest" (as ``timeline.in_order``)."""
    return run.time, run.started_at, run.id


def _stretches(times: Sequence[datetime], instants: Sequence[datetime]) -> list[tuple[int, datetime]]:
    """What to read so that every run of the 24 hours before each of ``instants`` (in order)
    is in hand, of the change points finished at ``times``: (the change point after which to
    read, -1: from the range's start; until when). Each read starts at a change point, so its
    runs' failing counts continue the point's; the stretches follow each other in time."""
    out: list[tuple[int, datetime]] = []
    for t in instants:
        i = bisect_right(times, t - DAY - TICK) - 1
        if out:
            last, last_until = out[-1]
            if i < 0 or times[i] - TICK <= last_until:
                out[-1] = (last, max(last_until, t))
                continue
        out.append((i, t))
    return out


@dataclass(frozen=True)
class Reach:
    """The true start of an interval that began before a timeline's start."""

    start: datetime | None  # None: the status has held since before any run finished
    opened_by: FinishedRun | None
    reason: Reason
    failing_before: int  # failing runs finished between ``start`` and the timeline's start
    previous: Status  # the status of the interval before (idle before any run finished)


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


def resolve_range(
    start: datetime | None, end: datetime | None, now: datetime, thresholds: Thresholds
) -> tuple[datetime, datetime]:
    """The asked range with its defaults (the last 7 days up to now), or a 422 saying what to fix."""
    end = end if end is not None else now
    start = start if start is not None else end - DEFAULT_RANGE
    if end > now:
        raise Invalid("'to' must not be in the future (at most now)", loc=("query", "to"))
    if start >= end:
        raise Invalid("'from' must be before 'to'", loc=("query", "from"))
    if end - start > MAX_RANGE:
        raise Invalid("the range from 'from' to 'to' must be at most 90 days", loc=("query", "from"))
    # The timeline at 'from' depends on the runs of the 24 hours before it (SPEC §3), and raw
    # runs older than the retention period are deleted (SPEC §8): refuse rather than guess.
    earliest = kept(now, thresholds.run_retention, thresholds.rollup_retention).raw_from + DAY
    if start < earliest:
        days = thresholds.run_retention.days
        raise Invalid(
            f"'from' must be at or after {format_timestamp(earliest)}: the status history needs the runs "
            f"of the 24 hours before 'from', and runs are kept {days} days "
            f"(PIPEPULSE_RUN_RETENTION_DAYS={days})",
            loc=("query", "from"),
        )
    return start, end


class Watched(Protocol):
    """What the status history reads of a connection: an ORM object or a plain row."""

    @property
    def id(self) -> str: ...

    @property
    def state(self) -> str: ...


async def status_history(
    session: AsyncSession,
    connection: Watched,
    start: datetime,
    end: datetime,
    now: datetime,
    thresholds: Thresholds,
    *,
    every_run: bool = False,
) -> StatusHistory:
    """The timeline over ``[start, end)`` with every incident that overlaps it, whole.

    ``every_run`` reads every run of the range rather than its change points: the same answer
    at a higher cost, kept as the reference the change points are tested against."""
    runs = _Runs(session, connection.id, thresholds, every_run=every_run)
    # One microsecond either side tells whether the edge intervals go on beyond the range.
    lo, hi, present = start - TICK, end + TICK, now + TICK
    history = await runs.history(lo, hi, start)
    step = DAY
    # An incident still open at the range's end: read on until it ends (or until now).
    while hi < present and history.at(end - TICK).status == "error" and history.at(end - TICK).end == hi:
        hi, step = min(hi + step, present), step * 2
        history = await runs.history(lo, hi, start)
    # An incident already open at the range's start: find where it began.
    reach = None
    if history.at(start).status == "error" and await runs.began_before(history, start):
        reach = await runs.reach_back(history)

    intervals = history.clip(start, end)
    first = intervals[0]
    if history.at(start).start < start:
        # An interval that began before the range is worded as it stood at the range's start.
        intervals[0] = Interval(
            first.status, first.start, first.end, history.state(start).reason(), first.opened_by
        )
    if connection.state == "paused" and end == now:
        last = intervals[-1]
        intervals[-1] = Interval(last.status, last.start, last.end, paused(last.reason), last.opened_by)
    found = incidents(history, open_at_end=hi == present)
    if reach is not None and reach.start is not None and found and found[0].started_at == history.start:
        whole = found[0]
        first = history.intervals[0]
        inside = history.failing_between(first.start, first.end) + reach.failing_before
        found[0] = await incident_with_streak(
            session, connection.id, reach.start, whole.ended_at, reach.opened_by, inside, thresholds
        )
    found = [await runs.whole_streak(history, i) for i in found]
    found = [i for i in found if i.started_at < end and (i.ended_at is None or i.ended_at > start)]
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
    reason: Reason  # why the status holds now
    since: datetime | None  # when the interval began; None: the status has never changed
    since_reason: Reason  # why the status began to hold then
    opened_by: FinishedRun | None  # the newest finished run when the interval began
    failing_runs_since: int  # failing runs finished since the interval began
    previous: Status  # the status of the interval before (idle before any run finished)


async def current(
    session: AsyncSession, connection: WarehouseConnection, now: datetime, thresholds: Thresholds
) -> Current:
    """The status at ``now`` (as the status engine gives it), its reason, and since when it holds.

    Reads the last two days of runs; only a status that has held longer reads further back,
    a widening step at a time, until the instant it began.
    """
    runs = _Runs(session, connection.id, thresholds)
    end = now + TICK
    history, _rows = await runs.timeline(now - DAY, end)
    interval = history.at(now)
    state = history.state(now)
    since: datetime | None = interval.start
    since_reason, opened_by = interval.reason, interval.opened_by
    failing = history.failing_between(interval.start, end)
    previous = history.state(interval.start - TICK).status
    if await runs.began_before(history, now):
        reach = await runs.reach_back(history)
        since, since_reason, opened_by = reach.start, reach.reason, reach.opened_by
        failing += reach.failing_before
        previous = reach.previous
    elif interval.start == history.start and history.held_before:
        since = None  # idle since before any run finished
        previous = "idle"
    reason = state.reason(now=now)
    if connection.state == "paused":
        reason = paused(reason)
    return Current(
        state=state,
        reason=reason,
        since=since,
        since_reason=since_reason,
        opened_by=opened_by,
        failing_runs_since=failing,
        previous=previous,
    )


async def incident_with_streak(
    session: AsyncSession,
    connection_id: str,
    started_at: datetime,
    ended_at: datetime | None,
    opener: FinishedRun | None,
    inside: int,
    thresholds: Thresholds,
) -> Incident:
    """An incident from ``started_at`` whose status was made ``error`` by ``opener``, with
    ``inside`` failing runs finished in it, and the failing streak that led into it (SPEC §7.1)."""
    if opener is None:
        return Incident(started_at, ended_at, None, None, None, inside)
    streak = await repository.failing_streak_before(
        session, connection_id, opener.time + TICK, thresholds.orphan_window
    )
    if not streak:
        streak = [opener]
    first = streak[0]
    return Incident(
        started_at=started_at,
        ended_at=ended_at,
        streak_started_at=first.time,
        first_error=first.message,
        first_error_run_id=first.id,
        failing_runs=sum(1 for r in streak if r.time < started_at) + inside,
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
    found_incident = None
    if state.status == "error" and found.since is not None:
        found_incident = await incident_with_streak(
            session, connection.id, found.since, None, found.opened_by, found.failing_runs_since, thresholds
        )
    return Health(
        current=found,
        since=found.since if found.since is not None else min(connection.created_at, now),
        open_incident=found_incident,
        freshness=connection_freshness(connection, state.last_delivery_at, now, thresholds),
        volume=(await volumes(session, [connection.id], now, thresholds))[connection.id],
        as_of=now,
    )


def connection_freshness(
    connection: WarehouseConnection, last_delivery_at: datetime | None, now: datetime, thresholds: Thresholds
) -> Freshness:
    """SPEC §7.2 freshness of a connection whose last delivery (as of ``now``) is known."""
    sla = freshness_sla(
        connection.freshness_sla_seconds, connection.schedule_interval_seconds, thresholds.orphan_window
    )
    return freshness(
        state=connection.state,
        sla=sla,
        last_delivery_at=last_delivery_at,
        created_at=connection.created_at,
        now=now,
    )


async def volumes(
    session: AsyncSession, connection_ids: Sequence[str], now: datetime, thresholds: Thresholds
) -> dict[str, Volume]:
    """Per connection, the latest complete UTC hour's events against the same hour on the
    previous 7 days (status/repository.hour_volumes)."""
    hour = floor_hour(now) - HOUR
    previous = baseline_hours(hour)
    found = await repository.hour_volumes(
        session, connection_ids, [hour, *previous], thresholds.orphan_window
    )
    return {
        cid: volume(hour, events.get(hour, 0), [events[h] for h in previous if h in events])
        for cid, events in found.items()
    }
