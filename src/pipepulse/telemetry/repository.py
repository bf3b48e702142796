"""The reads behind telemetry: each one bounded by an index, none walks a whole history."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Row, bindparam, case, func, literal, null, or_, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import EventHourlyRollup, Run, RunHourlyRollup
from pipepulse.telemetry.rollups import RUN_COUNTS
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
        values = row._mapping
        return cls(**{c.key: values[c.key] for c in RUN_COLUMNS})


# Every statement is built once and run with parameters: telemetry is the hottest read, and
# building SQLAlchemy expressions per request cost as much as the queries themselves.
def _p(name: str) -> Any:
    return bindparam(name, type_=Run.__table__.c.completed_at.type)


@functools.cache
def _rollup_sums() -> Any:
    """Both rollup tables in one round trip: run counts (event_type NULL), then events per type."""
    r = RunHourlyRollup
    in_day = r.hour >= _p("day_from")
    counts = []
    for name in RUN_COUNTS:
        column = getattr(r, name)
        counts.append(func.coalesce(func.sum(column), 0))
        counts.append(func.coalesce(func.sum(case((in_day, column), else_=0)), 0))
    runs = select(null().label("event_type"), *counts).where(
        r.connection_id == bindparam("connection_id"), r.hour >= _p("week_from"), r.hour < _p("hours_to")
    )
    e = EventHourlyRollup
    padding = [literal(0)] * (len(counts) - 2)
    events = (
        select(
            e.event_type,
            func.sum(e.events),
            func.coalesce(func.sum(case((e.hour >= _p("day_from"), e.events), else_=0)), 0),
            *padding,
        )
        .where(
            e.connection_id == bindparam("connection_id"), e.hour >= _p("week_from"), e.hour < _p("hours_to")
        )
        .group_by(e.event_type)
    )
    return union_all(runs, events)


async def rollup_tallies(
    session: AsyncSession, connection_id: str, week: WindowPlan, day: WindowPlan
) -> tuple[Tally, Tally]:
    """Whole-hour sums for the 7-day and the 24-hour window."""
    week_tally, day_tally = Tally(), Tally()
    if not week.has_hours:
        return week_tally, day_tally
    params = {
        "connection_id": connection_id,
        "week_from": week.hours_from,
        "hours_to": week.hours_to,
        # With no whole hour in the day window, no rollup hour may count towards it.
        "day_from": day.hours_from if day.has_hours else week.hours_to,
    }
    for event_type, *values in await session.execute(_rollup_sums(), params):
        if event_type is None:
            counts = [int(v or 0) for v in values]
            for tally, offset in ((week_tally, 0), (day_tally, 1)):
                for name, value in zip(RUN_COUNTS, counts[offset::2], strict=True):
                    setattr(tally, name, value)
            continue
        week_events, day_events = int(values[0] or 0), int(values[1] or 0)
        if week_events:
            week_tally.events_by_type[event_type] += week_events
        if day_events:
            day_tally.events_by_type[event_type] += day_events
    return week_tally, day_tally


@functools.cache
def _edge_runs() -> Any:
    ranges = []
    for w in ("week", "day"):
        ranges.append((Run.completed_at > _p(f"{w}_start")) & (Run.completed_at < _p(f"{w}_hours_from")))
        ranges.append(
            (Run.completed_at >= _p(f"{w}_hours_to"))
            & (Run.completed_at > _p(f"{w}_start"))
            & (Run.completed_at <= _p(f"{w}_end"))
        )
    return select(*RUN_COLUMNS).where(Run.connection_id == bindparam("connection_id"), or_(*ranges))


@dataclass(frozen=True)
class RunReads:
    """Everything telemetry reads from the runs table, fetched in one round trip."""

    edges: list[RunFacts]
    orphans: list[RunFacts]
    latest: list[RunFacts]
    failing: list[RunFacts]
    last_delivery_at: datetime | None


def _newest_completed(prefix: str, *, failing_only: bool) -> Any:
    query = select(*RUN_COLUMNS).where(
        Run.connection_id == bindparam("connection_id"),
        Run.completed_at > _p(f"{prefix}_after"),
        Run.completed_at <= _p("now"),
    )
    if failing_only:
        query = query.where(FAILING_COMPLETED)
    return query.order_by(Run.completed_at.desc(), Run.started_at.desc(), Run.id.desc()).limit(
        bindparam(f"{prefix}_limit", type_=Integer())
    )


@functools.cache
def _run_reads() -> Any:
    def tagged(part: str, query: Any) -> Any:
        # Each part is wrapped so its own ORDER BY / LIMIT survive the UNION (SQLite needs it).
        inner = query.subquery()
        return select(literal(part).label("part"), *[inner.c[c.key] for c in RUN_COLUMNS])

    orphans = select(*RUN_COLUMNS).where(
        Run.connection_id == bindparam("connection_id"),
        Run.completed_at.is_(None),
        Run.started_at > _p("orphans_after"),
        Run.started_at <= _p("orphans_until"),
    )
    delivery = (
        select(*RUN_COLUMNS)
        .where(Run.connection_id == bindparam("connection_id"), DELIVERING, Run.completed_at <= _p("now"))
        .order_by(Run.completed_at.desc())
        .limit(1)
    )
    return union_all(
        tagged("edges", _edge_runs()),
        tagged("orphans", orphans),
        tagged("latest", _newest_completed("latest", failing_only=False)),
        tagged("failing", _newest_completed("failing", failing_only=True)),
        tagged("delivery", delivery),
    )


def _newest_first(run: RunFacts) -> tuple[datetime | None, datetime, str]:
    # A UNION does not keep each part's ORDER BY; sort again, the same way.
    return run.completed_at, run.started_at, run.id


async def run_reads(
    session: AsyncSession,
    connection_id: str,
    week: WindowPlan,
    day: WindowPlan,
    *,
    now: datetime,
    orphans_after: datetime,
    orphans_until: datetime,
    latest_after: datetime,
    latest_limit: int,
    failing_after: datetime,
    failing_limit: int,
) -> RunReads:
    """Edge runs, orphans, the newest and newest failing completions, and the last delivery."""
    params: dict[str, Any] = {
        "connection_id": connection_id,
        "now": now,
        "orphans_after": orphans_after,
        "orphans_until": orphans_until,
        "latest_after": latest_after,
        "latest_limit": latest_limit,
        "failing_after": failing_after,
        "failing_limit": failing_limit,
    }
    for name, plan in (("week", week), ("day", day)):
        params.update(
            {
                f"{name}_start": plan.start,
                f"{name}_hours_from": plan.hours_from,
                f"{name}_hours_to": plan.hours_to,
                f"{name}_end": plan.end,
            }
        )
    parts: dict[str, list[RunFacts]] = {p: [] for p in ("edges", "orphans", "latest", "failing", "delivery")}
    for row in await session.execute(_run_reads(), params):
        parts[row.part].append(RunFacts.from_row(row))
    delivery = parts["delivery"]
    return RunReads(
        edges=parts["edges"],
        orphans=parts["orphans"],
        latest=sorted(parts["latest"], key=_newest_first, reverse=True),
        failing=sorted(parts["failing"], key=_newest_first, reverse=True),
        last_delivery_at=delivery[0].completed_at if delivery else None,
    )
