"""The reads behind telemetry: each one bounded by an index, none walks a whole history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, case, false, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import EventHourlyRollup, Run, RunHourlyRollup
from pipepulse.telemetry.rules import Tally
from pipepulse.telemetry.windows import WindowPlan

RUN_COLUMNS = (
    Run.id,
    Run.started_at,
    Run.completed_at,
    Run.outcome,
    Run.events_delivered,
    Run.events_by_type,
    Run.batches_dlq,
    Run.error,
)


# Literal predicates (not bound parameters) so PostgreSQL can match the partial indexes
# ix_runs_failing and ix_runs_delivering even under a generic prepared-statement plan.
FAILING_COMPLETED = text("runs.outcome IN ('partial', 'failed')")
DELIVERING = text("runs.events_delivered > 0")


@dataclass(frozen=True)
class RunFacts:
    """The columns of a run the telemetry rules need."""

    id: str
    started_at: datetime
    completed_at: datetime | None
    outcome: str
    events_delivered: int
    events_by_type: dict[str, Any] | None
    batches_dlq: int
    error: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> RunFacts:
        return cls(**row._mapping)


async def rollup_tallies(
    session: AsyncSession, connection_id: str, week: WindowPlan, day: WindowPlan
) -> tuple[Tally, Tally]:
    """Whole-hour sums for the 7-day and the 24-hour window (one query per rollup table)."""
    week_tally, day_tally = Tally(), Tally()
    if not week.has_hours:
        return week_tally, day_tally
    r = RunHourlyRollup
    in_day = r.hour >= day.hours_from if day.has_hours else false()

    def both(column: Any) -> tuple[Any, Any]:
        return func.coalesce(func.sum(column), 0), func.coalesce(func.sum(case((in_day, column), else_=0)), 0)

    columns = [r.runs, r.succeeded, r.partial, r.failed, r.events_delivered, r.batches_dlq]
    selected = [expr for c in columns for expr in both(c)]
    row = (
        await session.execute(
            select(*selected).where(
                r.connection_id == connection_id, r.hour >= week.hours_from, r.hour < week.hours_to
            )
        )
    ).one()
    values = [int(v) for v in row]
    for tally, offset in ((week_tally, 0), (day_tally, 1)):
        (
            tally.runs,
            tally.succeeded,
            tally.partial,
            tally.failed,
            tally.events_delivered,
            tally.batches_dlq,
        ) = values[offset::2]

    e = EventHourlyRollup
    e_in_day = e.hour >= day.hours_from if day.has_hours else false()
    rows = await session.execute(
        select(
            e.event_type,
            func.sum(e.events),
            func.coalesce(func.sum(case((e_in_day, e.events), else_=0)), 0),
        )
        .where(e.connection_id == connection_id, e.hour >= week.hours_from, e.hour < week.hours_to)
        .group_by(e.event_type)
    )
    for event_type, week_events, day_events in rows:
        if week_events:
            week_tally.events_by_type[event_type] += int(week_events)
        if day_events:
            day_tally.events_by_type[event_type] += int(day_events)
    return week_tally, day_tally


async def edge_runs(session: AsyncSession, connection_id: str, plans: Sequence[WindowPlan]) -> list[RunFacts]:
    """Completed runs in the raw edges of the given windows (at most ~2 hours of runs each)."""
    ranges = []
    for p in plans:
        ranges.append((Run.completed_at > p.start) & (Run.completed_at < p.hours_from))
        ranges.append(
            (Run.completed_at >= p.hours_to) & (Run.completed_at > p.start) & (Run.completed_at <= p.end)
        )
    rows = await session.execute(select(*RUN_COLUMNS).where(Run.connection_id == connection_id, or_(*ranges)))
    return [RunFacts.from_row(r) for r in rows]


async def orphans(
    session: AsyncSession,
    connection_id: str,
    started_after: datetime,
    started_at_or_before: datetime,
) -> list[RunFacts]:
    """Runs still pending that had started in ``(started_after, started_at_or_before]``."""
    rows = await session.execute(
        select(*RUN_COLUMNS).where(
            Run.connection_id == connection_id,
            Run.completed_at.is_(None),
            Run.started_at > started_after,
            Run.started_at <= started_at_or_before,
        )
    )
    return [RunFacts.from_row(r) for r in rows]


async def latest_completed(
    session: AsyncSession,
    connection_id: str,
    after: datetime,
    until: datetime,
    limit: int,
    *,
    failing_only: bool,
) -> list[RunFacts]:
    """Newest completed runs with ``after < completed_at <= until``."""
    query = select(*RUN_COLUMNS).where(
        Run.connection_id == connection_id, Run.completed_at > after, Run.completed_at <= until
    )
    if failing_only:
        query = query.where(FAILING_COMPLETED)
    rows = await session.execute(
        query.order_by(Run.completed_at.desc(), Run.started_at.desc(), Run.id.desc()).limit(limit)
    )
    return [RunFacts.from_row(r) for r in rows]


async def last_delivery_at(session: AsyncSession, connection_id: str, until: datetime) -> datetime | None:
    result: datetime | None = await session.scalar(
        select(Run.completed_at)
        .where(Run.connection_id == connection_id, DELIVERING, Run.completed_at <= until)
        .order_by(Run.completed_at.desc())
        .limit(1)
    )
    return result
