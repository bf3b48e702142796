"""Telemetry of one connection (SPEC §3), from hourly rollups plus raw runs at the edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import WarehouseConnection
from pipepulse.telemetry import repository, windows
from pipepulse.telemetry.repository import RunFacts
from pipepulse.telemetry.rules import (
    DAY,
    WEEK,
    Tally,
    Thresholds,
    error_message,
    events_breakdown,
    finished_time,
    in_window,
    is_failing,
    status,
)
from pipepulse.telemetry.schemas import RecentError, Telemetry


def _sort_key(item: tuple[datetime, RunFacts]) -> tuple[datetime, datetime, str]:
    time, run = item
    return time, run.started_at, run.id


def _outcome(run: RunFacts) -> str:
    # Pending rows handed to the rules here are all past their window.
    return run.outcome if run.completed_at is not None else "orphaned"


@dataclass(frozen=True)
class StatusBasis:
    """The inputs the status rule was given, so a page can say why a status holds."""

    latest_finished_failing: tuple[bool, ...]
    finished_runs_last_24h: int
    failing_runs_last_24h: int
    events_last_24h: int


async def telemetry(
    session: AsyncSession, connection: WarehouseConnection, now: datetime, thresholds: Thresholds
) -> Telemetry:
    return (await telemetry_with_basis(session, connection, now, thresholds))[0]


async def telemetry_with_basis(
    session: AsyncSession, connection: WarehouseConnection, now: datetime, thresholds: Thresholds
) -> tuple[Telemetry, StatusBasis]:
    window = thresholds.orphan_window
    week = windows.plan(now, WEEK)
    day = windows.plan(now, DAY)

    week_tally, day_tally = await repository.rollup_tallies(session, connection.id, week, day)

    def add(tally: Tally, run: RunFacts) -> None:
        tally.add_run(_outcome(run), run.events_delivered, run.events_by_type, run.batches_dlq)

    reads = await repository.run_reads(
        session,
        connection.id,
        week,
        day,
        now=now,
        # An orphan counts at started_at + window; these are the ones whose time is in 7 days.
        orphans_after=now - WEEK - window,
        orphans_until=now - window,
        latest_after=now - DAY,
        latest_limit=thresholds.error_status_runs,
        failing_after=now - WEEK,
        failing_limit=thresholds.recent_errors_limit,
    )
    for run in reads.edges:
        assert run.completed_at is not None
        if week.in_raw_edges(run.completed_at):
            add(week_tally, run)
        if day.in_raw_edges(run.completed_at):
            add(day_tally, run)

    timed_orphans = [(finished_time(r.started_at, None, window), r) for r in reads.orphans]
    for time, run in timed_orphans:
        add(week_tally, run)
        if in_window(time, now, DAY):
            add(day_tally, run)

    latest = [(r.completed_at, r) for r in reads.latest if r.completed_at is not None]
    latest += [(t, r) for t, r in timed_orphans if in_window(t, now, DAY)]
    latest.sort(key=_sort_key, reverse=True)
    latest_failing = [is_failing(_outcome(r)) for _, r in latest[: thresholds.error_status_runs]]

    failing = [(r.completed_at, r) for r in reads.failing if r.completed_at is not None]
    failing += timed_orphans
    failing.sort(key=_sort_key, reverse=True)
    recent_errors = []
    for time, run in failing[: thresholds.recent_errors_limit]:
        message = error_message(_outcome(run), run.error, run.batches_dlq, window)
        assert message is not None
        recent_errors.append(RecentError(occurred_at=time, message=message, run_id=run.id))

    basis = StatusBasis(
        latest_finished_failing=tuple(latest_failing),
        finished_runs_last_24h=day_tally.runs,
        failing_runs_last_24h=day_tally.failing,
        events_last_24h=day_tally.events_delivered,
    )
    result = Telemetry(
        status=status(latest_failing, day_tally.failing > 0, day_tally.events_delivered),
        last_delivery_at=reads.last_delivery_at,
        events_last_24h=events_breakdown(
            connection.event_types, day_tally.events_by_type, day_tally.events_delivered
        ),
        events_last_7d=events_breakdown(
            connection.event_types, week_tally.events_by_type, week_tally.events_delivered
        ),
        failed_deliveries_last_24h=day_tally.failed_deliveries,
        recent_errors=recent_errors,
    )
    return result, basis
