"""The status engine: SPEC §3 for one connection or thousands, at any instant.

Telemetry, bulk metrics, Prometheus, the dashboard and alert evaluation all ask this module,
so a status, its reason and the numbers beside it never disagree. Whole hours come from the
hourly rollups, the partial hours at the windows' edges from raw runs, orphans from the
pending rows and the order-dependent parts (the latest runs, recent errors) from top-N
index probes, the last delivery from the latest times every report keeps (which survive
retention), in two statements per batch of connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.connections.repository import ConnectionRef
from pipepulse.db import dialect
from pipepulse.db.models import WarehouseConnection
from pipepulse.db.run_rows import RunRow
from pipepulse.rollups import plan as planner
from pipepulse.rollups.plan import TICK, Plan, rolling
from pipepulse.rules import (
    DAY,
    WEEK,
    Status,
    Tally,
    Thresholds,
    error_message,
    events_breakdown,
    in_window,
    is_failing,
    status,
)
from pipepulse.telemetry import repository
from pipepulse.telemetry.repository import Windows
from pipepulse.telemetry.schemas import RecentError, Telemetry


@dataclass(frozen=True)
class StatusBasis:
    """The inputs the status rule was given, so a page or an alert can say why a status holds."""

    latest_finished_failing: tuple[bool, ...]
    finished_runs_last_24h: int
    failing_runs_last_24h: int
    events_last_24h: int


@dataclass(frozen=True)
class ConnectionStatus:
    """One connection at one instant: its §3 status, why, and what its latest runs said."""

    status: Status
    basis: StatusBasis
    last_delivery_at: datetime | None
    latest_run: RunRow | None  # the newest completed run at or before the instant


@dataclass(frozen=True)
class Snapshot:
    """The whole §3 answer for one connection, with the status's reasons."""

    telemetry: Telemetry
    status: ConnectionStatus
    # The runs behind the last 24 hours' figures, by outcome: a page can show failed runs and
    # dead-lettered batches apart where failed_deliveries_last_24h adds them up.
    day: Tally = field(default_factory=Tally)
    # The finished runs of the batch's first window (the week, or a range asked for).
    counted: Tally = field(default_factory=Tally)


async def statuses(
    session: AsyncSession, connections: Sequence[ConnectionRef], at: datetime, thresholds: Thresholds
) -> dict[str, ConnectionStatus]:
    """Each connection's status as ``GET …/telemetry/`` would answer at ``at``: the same
    statements without the per-type breakdowns, which a status does not need."""
    found = await _read(session, [c.id for c in connections], at, thresholds, rolling(at, DAY), events=False)
    return {c.id: _status(found[c.id], at, thresholds) for c in connections}


async def counted_statuses(
    session: AsyncSession,
    connections: Sequence[ConnectionRef],
    at: datetime,
    thresholds: Thresholds,
    counted: tuple[datetime, datetime],
    store: planner.Kept = planner.KEEP_ALL,
) -> dict[str, tuple[ConnectionStatus, Tally]]:
    """Each connection's status at ``at`` and its runs finished in ``counted`` (``[start, end)``,
    orphans by ``at``), from the same statements: the metrics API's ``latest``.

    ``at`` must be ``min(end, now)``, so that a run orphaned by ``at`` is one orphaned by now.
    ``store`` says which raw runs are still kept (SPEC §8): edges before them count whole hours.
    """
    first = planner.plan(*counted, store=store)
    found = await _snapshots(session, connections, at, thresholds, first, recent_errors=False)
    return {cid: (s.status, s.counted) for cid, s in found.items()}


async def snapshots(
    session: AsyncSession, connections: Sequence[ConnectionRef], at: datetime, thresholds: Thresholds
) -> dict[str, Snapshot]:
    """Each connection's whole telemetry answer at ``at``, with the status's reasons."""
    return await _snapshots(session, connections, at, thresholds, rolling(at, WEEK), recent_errors=True)


async def telemetry(
    session: AsyncSession, connection: WarehouseConnection, now: datetime, thresholds: Thresholds
) -> Telemetry:
    """``GET …/telemetry/`` for one connection."""
    ref = ConnectionRef.of(connection)
    return (await snapshots(session, [ref], now, thresholds))[ref.id].telemetry


def _newest_first(runs: list[tuple[datetime, RunRow]]) -> list[tuple[datetime, RunRow]]:
    return sorted(runs, key=lambda item: (item[0], item[1].started_at, item[1].id), reverse=True)


@dataclass
class _Found:
    """What the two statements found for one connection."""

    sums: repository.Rollups
    runs: repository.Newest
    # Orphans that finished in the first window, with that time (they are recent errors too).
    timed_orphans: list[tuple[datetime, RunRow]] = field(default_factory=list)


async def _read(
    session: AsyncSession,
    ids: Sequence[str],
    at: datetime,
    thresholds: Thresholds,
    first: Plan,
    *,
    recent_errors: bool = False,
    events: bool = True,
) -> dict[str, _Found]:
    """The day window anchored at ``at`` for the status, and a first window counted beside it
    (the week, or a range asked for), in batches the database takes in one statement."""
    chunk = dialect.keys_per_statement(dialect.name_of(session))
    if len(ids) > chunk:
        batches: dict[str, _Found] = {}
        for start in range(0, len(ids), chunk):
            batch = ids[start : start + chunk]
            batches.update(
                await _read(session, batch, at, thresholds, first, recent_errors=recent_errors, events=events)
            )
        return batches
    if not ids:
        return {}
    window = thresholds.orphan_window
    windows = Windows(week=first, day=rolling(at, DAY))

    def in_first(time: datetime) -> bool:
        return first.start <= time < first.end and time <= at

    sums, _ = await repository.sums(session, ids, windows, events=events)
    # An orphan counts at started_at + window, once orphaned by ``at``: the pending runs that
    # started early enough for either window.
    orphan_starts = (min(first.start, windows.day.start) - window, at - window + TICK)
    newest = await repository.runs(
        session,
        ids,
        windows,
        orphans_started=orphan_starts,
        until=at + TICK,
        latest_limit=thresholds.error_status_runs,
        failing_from=first.start,
        failing_limit=thresholds.recent_errors_limit if recent_errors else 0,
        events=events,
    )

    def add(tally: Tally, run: RunRow) -> None:
        tally.add_run(run.stored_outcome, run.events_delivered, run.events_by_type, run.batches_dlq)

    out = {cid: _Found(sums[cid], newest[cid]) for cid in ids}
    for cid, found in newest.items():
        tallies = sums[cid]
        # Raw edge runs come back one by one only where the database did not sum them.
        for run in found.edges:
            assert run.completed_at is not None
            if windows.week.in_raw(run.completed_at):
                add(tallies.week, run)
            if windows.day.in_raw(run.completed_at):
                add(tallies.day, run)
        for run in found.orphans:
            time = run.finished_time(window)
            if in_first(time):
                out[cid].timed_orphans.append((time, run))
                add(tallies.week, run)
            if in_window(time, at, DAY):
                add(tallies.day, run)
    return out


def _status(found: _Found, at: datetime, thresholds: Thresholds) -> ConnectionStatus:
    """§3's status from what was read: the latest finished runs of the day, and its sums."""
    window = thresholds.orphan_window
    day, runs = found.sums.day, found.runs
    latest = [
        (r.completed_at, r) for r in runs.latest if r.completed_at and in_window(r.completed_at, at, DAY)
    ]
    latest += [
        (r.finished_time(window), r) for r in runs.orphans if in_window(r.finished_time(window), at, DAY)
    ]
    latest_failing = tuple(
        is_failing(r.stored_outcome) for _, r in _newest_first(latest)[: thresholds.error_status_runs]
    )
    completed = _newest_first([(r.completed_at, r) for r in runs.latest if r.completed_at is not None])
    return ConnectionStatus(
        status=status(latest_failing, day.failing > 0, day.events_delivered),
        basis=StatusBasis(
            latest_finished_failing=latest_failing,
            finished_runs_last_24h=day.runs,
            failing_runs_last_24h=day.failing,
            events_last_24h=day.events_delivered,
        ),
        last_delivery_at=runs.delivered_at,
        latest_run=completed[0][1] if completed else None,
    )


async def _snapshots(
    session: AsyncSession,
    connections: Sequence[ConnectionRef],
    at: datetime,
    thresholds: Thresholds,
    first: Plan,
    *,
    recent_errors: bool,
) -> dict[str, Snapshot]:
    """Whole answers: the status with the week's (or the range's) and the day's figures."""
    window = thresholds.orphan_window
    read = await _read(
        session, [c.id for c in connections], at, thresholds, first, recent_errors=recent_errors
    )
    out = {}
    for ref in connections:
        found = read[ref.id]
        day, week_tally = found.sums.day, found.sums.week
        connection_status = _status(found, at, thresholds)
        failing = [(r.completed_at, r) for r in found.runs.failing if r.completed_at is not None]
        recent = (
            _newest_first(failing + found.timed_orphans)[: thresholds.recent_errors_limit]
            if recent_errors
            else []
        )
        errors = []
        for time, run in recent:
            message = error_message(run.stored_outcome, run.error, run.batches_dlq, window)
            assert message is not None
            errors.append(RecentError(occurred_at=time, message=message, run_id=run.id))
        out[ref.id] = Snapshot(
            telemetry=Telemetry(
                status=connection_status.status,
                last_delivery_at=connection_status.last_delivery_at,
                events_last_24h=events_breakdown(ref.event_types, day.events_by_type, day.events_delivered),
                events_last_7d=events_breakdown(
                    ref.event_types, week_tally.events_by_type, week_tally.events_delivered
                ),
                failed_deliveries_last_24h=day.failed_deliveries,
                recent_errors=errors,
            ),
            status=connection_status,
            day=day,
            counted=week_tally,
        )
    return out
