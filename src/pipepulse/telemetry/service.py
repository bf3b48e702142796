"""The status engine: SPEC §3 for one connection or thousands, at any instant.

Telemetry, bulk metrics, Prometheus, the dashboard and alert evaluation all ask this module,
so a status, its reason and the numbers beside it never disagree. Whole hours come from the
hourly rollups, the partial hours at the windows' edges from raw runs, orphans from the
pending rows and the order-dependent parts (the latest runs, recent errors, the last
delivery) from top-N index probes, in three statements per batch of connections (a fourth
when some connection has no delivery among its raw runs: retention may have deleted it, and
the hourly rollups still hold its time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.connections.repository import ConnectionRef
from pipepulse.db import dialect
from pipepulse.db.models import WarehouseConnection
from pipepulse.db.rows import RunRow
from pipepulse.rollups.plan import TICK, rolling
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
    day: Tally


async def statuses(
    session: AsyncSession, connections: Sequence[ConnectionRef], at: datetime, thresholds: Thresholds
) -> dict[str, ConnectionStatus]:
    """Each connection's status as ``GET …/telemetry/`` would answer at ``at``."""
    return {
        cid: s.status
        for cid, s in (await _snapshots(session, connections, at, thresholds, week=False)).items()
    }


async def snapshots(
    session: AsyncSession, connections: Sequence[ConnectionRef], at: datetime, thresholds: Thresholds
) -> dict[str, Snapshot]:
    """Each connection's whole telemetry answer at ``at``, with the status's reasons."""
    return await _snapshots(session, connections, at, thresholds, week=True)


async def telemetry(
    session: AsyncSession, connection: WarehouseConnection, now: datetime, thresholds: Thresholds
) -> Telemetry:
    """``GET …/telemetry/`` for one connection."""
    ref = ConnectionRef.of(connection)
    return (await snapshots(session, [ref], now, thresholds))[ref.id].telemetry


def _newest_first(runs: list[tuple[datetime, RunRow]]) -> list[tuple[datetime, RunRow]]:
    return sorted(runs, key=lambda item: (item[0], item[1].started_at, item[1].id), reverse=True)


async def _snapshots(
    session: AsyncSession,
    connections: Sequence[ConnectionRef],
    at: datetime,
    thresholds: Thresholds,
    *,
    week: bool,
) -> dict[str, Snapshot]:
    chunk = dialect.keys_per_statement(dialect.name_of(session))
    if len(connections) > chunk:
        out: dict[str, Snapshot] = {}
        for start in range(0, len(connections), chunk):
            batch = connections[start : start + chunk]
            out.update(await _snapshots(session, batch, at, thresholds, week=week))
        return out
    if not connections:
        return {}
    window = thresholds.orphan_window
    span = WEEK if week else DAY
    windows = Windows(week=rolling(at, span), day=rolling(at, DAY))
    ids = [c.id for c in connections]

    sums = await repository.rollup_sums(session, ids, windows)
    # An orphan counts at started_at + window: these are the ones whose time is in the span.
    orphan_starts = (at - span - window + TICK, at - window + TICK)
    edges, orphans = await repository.raw_runs(session, ids, windows, orphan_starts)
    newest = await repository.newest_runs(
        session,
        ids,
        until=at + TICK,
        latest_limit=thresholds.error_status_runs,
        failing_from=windows.week.start,
        failing_limit=thresholds.recent_errors_limit if week else 0,
    )

    # A delivery older than raw retention is gone from the runs but not from the rollups.
    undelivered = [cid for cid in ids if newest[cid].delivery is None]
    older_deliveries = await repository.rollup_last_delivery(session, undelivered, at + TICK)

    def add(tally: Tally, run: RunRow) -> None:
        tally.add_run(run.stored_outcome, run.events_delivered, run.events_by_type, run.batches_dlq)

    for run in edges:
        assert run.completed_at is not None
        tallies = sums[run.connection_id]
        if windows.week.in_raw(run.completed_at):
            add(tallies.week, run)
        if windows.day.in_raw(run.completed_at):
            add(tallies.day, run)
    timed_orphans: dict[str, list[tuple[datetime, RunRow]]] = {cid: [] for cid in ids}
    for run in orphans:
        time = run.finished_time(window)
        timed_orphans[run.connection_id].append((time, run))
        add(sums[run.connection_id].week, run)
        if in_window(time, at, DAY):
            add(sums[run.connection_id].day, run)

    snapshots_by_id: dict[str, Snapshot] = {}
    for ref in connections:
        day, week_tally, found = sums[ref.id].day, sums[ref.id].week, newest[ref.id]
        latest = [
            (r.completed_at, r) for r in found.latest if r.completed_at and in_window(r.completed_at, at, DAY)
        ]
        latest += [(t, r) for t, r in timed_orphans[ref.id] if in_window(t, at, DAY)]
        latest_failing = tuple(
            is_failing(r.stored_outcome) for _, r in _newest_first(latest)[: thresholds.error_status_runs]
        )
        completed = _newest_first([(r.completed_at, r) for r in found.latest if r.completed_at is not None])
        connection_status = ConnectionStatus(
            status=status(latest_failing, day.failing > 0, day.events_delivered),
            basis=StatusBasis(
                latest_finished_failing=latest_failing,
                finished_runs_last_24h=day.runs,
                failing_runs_last_24h=day.failing,
                events_last_24h=day.events_delivered,
            ),
            last_delivery_at=found.delivery.completed_at if found.delivery else older_deliveries.get(ref.id),
            latest_run=completed[0][1] if completed else None,
        )

        failing = [(r.completed_at, r) for r in found.failing if r.completed_at is not None]
        recent = (
            _newest_first(failing + timed_orphans[ref.id])[: thresholds.recent_errors_limit] if week else []
        )
        recent_errors = []
        for time, run in recent:
            message = error_message(run.stored_outcome, run.error, run.batches_dlq, window)
            assert message is not None
            recent_errors.append(RecentError(occurred_at=time, message=message, run_id=run.id))
        snapshots_by_id[ref.id] = Snapshot(
            telemetry=Telemetry(
                status=connection_status.status,
                last_delivery_at=connection_status.last_delivery_at,
                events_last_24h=events_breakdown(ref.event_types, day.events_by_type, day.events_delivered),
                events_last_7d=events_breakdown(
                    ref.event_types, week_tally.events_by_type, week_tally.events_delivered
                ),
                failed_deliveries_last_24h=day.failed_deliveries,
                recent_errors=recent_errors,
            ),
            status=connection_status,
            day=day,
        )
    return snapshots_by_id
