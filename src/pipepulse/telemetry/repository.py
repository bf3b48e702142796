"""The reads behind the status engine: three statements for any number of connections.

Each is built once per dialect (and, on SQLite, per number of connections) and run with
parameters; none walks a whole history: rollup rows of the window, raw runs of its partial
edge hours, pending rows that may be orphans, and top-N probes from the end of an index.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, bindparam, case, func, literal, null, or_, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import dialect
from pipepulse.db.models import EventHourlyRollup, Run, RunHourlyRollup
from pipepulse.db.rows import RUN_COLUMNS, RunRow
from pipepulse.rollups.plan import Plan
from pipepulse.rollups.writer import RUN_COUNTS
from pipepulse.rules import Tally

# Literal predicates (not bound parameters) so PostgreSQL can match the partial indexes
# ix_runs_failing and ix_runs_delivering even under a generic prepared-statement plan.
FAILING_COMPLETED = text("runs.outcome IN ('partial', 'failed')")
DELIVERING = text("runs.events_delivered > 0")
# Raw edge ranges one statement carries: a window's two edges, and another window's left one
# (windows anchored at the same instant share their right edge).
EDGE_SLOTS = 3


def _t(name: str) -> Any:
    return bindparam(name, type_=Run.__table__.c.completed_at.type)


@dataclass(frozen=True)
class Windows:
    """The two windows of one read: the 7 days (or, for a status alone, the day again) and the day."""

    week: Plan
    day: Plan


@dataclass
class Rollups:
    """Whole-hour sums of one connection for both windows."""

    week: Tally = field(default_factory=Tally)
    day: Tally = field(default_factory=Tally)


@functools.cache
def _rollup_sums(name: str) -> Any:
    """Both rollup tables in one round trip: run counts (event_type NULL), then events per type."""
    r = RunHourlyRollup
    in_day = r.hour >= _t("day_from")
    counts = []
    for column_name in RUN_COUNTS:
        column = getattr(r, column_name)
        counts.append(func.coalesce(func.sum(column), 0))
        counts.append(func.coalesce(func.sum(case((in_day, column), else_=0)), 0))
    runs = (
        select(r.connection_id, null().label("event_type"), *counts)
        .where(
            dialect.in_param(name, r.connection_id, "ids"), r.hour >= _t("week_from"), r.hour < _t("hours_to")
        )
        .group_by(r.connection_id)
    )
    e = EventHourlyRollup
    padding = [literal(0)] * (len(counts) - 2)
    events = (
        select(
            e.connection_id,
            e.event_type,
            func.sum(e.events),
            func.coalesce(func.sum(case((e.hour >= _t("day_from"), e.events), else_=0)), 0),
            *padding,
        )
        .where(
            dialect.in_param(name, e.connection_id, "ids"), e.hour >= _t("week_from"), e.hour < _t("hours_to")
        )
        .group_by(e.connection_id, e.event_type)
    )
    return union_all(runs, events)


async def rollup_sums(session: AsyncSession, ids: Sequence[str], windows: Windows) -> dict[str, Rollups]:
    """Per connection, the whole-hour sums of the week and the day."""
    out = {cid: Rollups() for cid in ids}
    week, day = windows.week.whole_hours, windows.day.whole_hours
    if week is None:
        return out
    params = {
        "ids": list(ids),
        "week_from": week[0],
        "hours_to": week[1],
        # With no whole hour in the day window, no rollup hour may count towards it.
        "day_from": day[0] if day is not None else week[1],
    }
    for cid, event_type, *values in await session.execute(_rollup_sums(dialect.name_of(session)), params):
        sums = out[cid]
        if event_type is None:
            counts = [int(v or 0) for v in values]
            for tally, offset in ((sums.week, 0), (sums.day, 1)):
                for column_name, value in zip(RUN_COUNTS, counts[offset::2], strict=True):
                    setattr(tally, column_name, value)
            continue
        week_events, day_events = int(values[0] or 0), int(values[1] or 0)
        if week_events:
            sums.week.events_by_type[event_type] += week_events
        if day_events:
            sums.day.events_by_type[event_type] += day_events
    return out


def edge_ranges(windows: Windows) -> list[tuple[datetime, datetime]]:
    """The distinct raw ranges of both windows, padded to :data:`EDGE_SLOTS` with empty ones."""
    ranges = list(dict.fromkeys([*windows.week.raw, *windows.day.raw]))
    assert len(ranges) <= EDGE_SLOTS, ranges
    empty = (windows.day.end, windows.day.end)
    return ranges + [empty] * (EDGE_SLOTS - len(ranges))


@functools.cache
def _raw_runs(name: str) -> Any:
    edges = select(literal("edge").label("part"), *RUN_COLUMNS).where(
        dialect.in_param(name, Run.connection_id, "ids"),
        or_(
            *(
                and_(Run.completed_at >= _t(f"edge{i}_from"), Run.completed_at < _t(f"edge{i}_to"))
                for i in range(EDGE_SLOTS)
            )
        ),
    )
    orphans = select(literal("orphan").label("part"), *RUN_COLUMNS).where(
        dialect.in_param(name, Run.connection_id, "ids"),
        Run.completed_at.is_(None),
        Run.started_at >= _t("orphans_from"),
        Run.started_at < _t("orphans_to"),
    )
    return union_all(edges, orphans)


async def raw_runs(
    session: AsyncSession,
    ids: Sequence[str],
    windows: Windows,
    orphans_started: tuple[datetime, datetime],
) -> tuple[list[RunRow], list[RunRow]]:
    """(runs completed in the windows' raw edges, pending runs started in ``orphans_started``)."""
    params: dict[str, Any] = {
        "ids": list(ids),
        "orphans_from": orphans_started[0],
        "orphans_to": orphans_started[1],
    }
    for i, (a, b) in enumerate(edge_ranges(windows)):
        params[f"edge{i}_from"], params[f"edge{i}_to"] = a, b
    edges: list[RunRow] = []
    orphans: list[RunRow] = []
    for row in await session.execute(_raw_runs(dialect.name_of(session)), params):
        (edges if row.part == "edge" else orphans).append(RunRow.from_row(row))
    return edges, orphans


async def rollup_last_delivery(
    session: AsyncSession, ids: Sequence[str], until: datetime
) -> dict[str, datetime]:
    """Per connection, the latest delivery before ``until`` the hourly rollups remember.

    Asked only for connections with no delivery among their raw runs: retention may have
    deleted it, and the rollups keep its exact time.
    """
    if not ids:
        return {}
    r = RunHourlyRollup
    rows = await session.execute(
        select(r.connection_id, func.max(r.last_delivery_at))
        .where(dialect.one_of(session, r.connection_id, ids), r.hour < until, r.last_delivery_at < until)
        .group_by(r.connection_id)
    )
    return {cid: at for cid, at in ((cid, dialect.as_utc(at)) for cid, at in rows) if at is not None}


def _newest(*where: Any, limit: str) -> Any:
    def part(key: Any) -> Any:
        return (
            select(*RUN_COLUMNS)
            .where(Run.connection_id == key.key, *where)
            .order_by(Run.completed_at.desc(), Run.started_at.desc(), Run.id.desc())
            .limit(bindparam(limit, type_=Integer()))
        )

    return part


@functools.cache
def _newest_runs(name: str, slots: int) -> Any:
    return dialect.newest_per_key(
        name,
        slots,
        {
            "latest": _newest(Run.completed_at < _t("until"), limit="latest_limit"),
            "failing": _newest(
                FAILING_COMPLETED,
                Run.completed_at >= _t("failing_from"),
                Run.completed_at < _t("until"),
                limit="failing_limit",
            ),
            "delivery": _newest(DELIVERING, Run.completed_at < _t("until"), limit="delivery_limit"),
        },
    )


@dataclass
class Newest:
    """The newest completed runs of one connection up to the instant, by kind."""

    latest: list[RunRow] = field(default_factory=list)
    failing: list[RunRow] = field(default_factory=list)
    delivery: RunRow | None = None


async def newest_runs(
    session: AsyncSession,
    ids: Sequence[str],
    *,
    until: datetime,
    latest_limit: int,
    failing_from: datetime,
    failing_limit: int,
) -> dict[str, Newest]:
    """Per connection, completed before ``until``: the newest ``latest_limit`` runs, the newest
    ``failing_limit`` failing ones from ``failing_from`` on, and the newest that delivered events."""
    name = dialect.name_of(session)
    params = dialect.key_params(name, [{"key": cid} for cid in ids]) | {
        "until": until,
        "latest_limit": latest_limit,
        "failing_from": failing_from,
        "failing_limit": failing_limit,
        "delivery_limit": 1,
    }
    out = {cid: Newest() for cid in ids}
    for row in await session.execute(_newest_runs(name, dialect.key_slots(name, len(ids))), params):
        run = RunRow.from_row(row)
        newest = out[row.key]
        if row.part == "latest":
            newest.latest.append(run)
        elif row.part == "failing":
            newest.failing.append(run)
        else:
            newest.delivery = run
    return out
