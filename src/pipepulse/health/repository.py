"""SQL behind organisation health: sums grouped by integration type, never per-run in Python."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.dialect import as_utc, one_of
from pipepulse.db.models import ConnectionRunTimes, Run, RunDailyRollup, RunHourlyRollup, WarehouseConnection
from pipepulse.kit import run_filters
from pipepulse.rollups.plan import HOUR

Ranges = Sequence[tuple[datetime, datetime]]
C = WarehouseConnection


async def integration_types(session: AsyncSession, organisation_id: int) -> list[str]:
    rows = await session.execute(
        select(C.integration_type).where(C.organisation_id == organisation_id).distinct()
    )
    return [t for (t,) in rows]


async def rollup_counts(
    session: AsyncSession,
    organisation_id: int,
    table: type[RunDailyRollup] | type[RunHourlyRollup],
    ranges: Ranges,
) -> list[tuple[str, int, int, int]]:
    """(integration_type, runs, succeeded, partial + failed + orphaned) over whole days or hours.

    ``orphaned`` holds the orphans retention rolled up when it deleted their pending rows.
    """
    if not ranges:
        return []
    when = table.day if table is RunDailyRollup else table.hour  # type: ignore[union-attr]
    # Summed per connection first, then per type: the join meets one row a connection, not one
    # a day or hour (30,000 for a month of 1,000 connections), whatever join the planner picks
    # (it misjudged the rows and sorted all 30,000 for a merge join on a longer history).
    per_connection = (
        select(
            table.connection_id.label("connection_id"),
            func.sum(table.runs).label("runs"),
            func.sum(table.succeeded).label("succeeded"),
            func.sum(table.partial + table.failed + table.orphaned).label("failing"),
        )
        .where(table.organisation_id == organisation_id, or_(*(and_(when >= a, when < b) for a, b in ranges)))
        .group_by(table.connection_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            C.integration_type,
            func.sum(per_connection.c.runs),
            func.sum(per_connection.c.succeeded),
            func.sum(per_connection.c.failing),
        )
        .join(C, C.id == per_connection.c.connection_id)
        .group_by(C.integration_type)
    )
    return [(t, int(n or 0), int(s or 0), int(f or 0)) for t, n, s, f in rows]


async def counts_by_hour(
    session: AsyncSession, organisation_id: int, ranges: Ranges
) -> list[tuple[datetime, tuple[str, int, int, int]]]:
    """Per hour and integration type of the hourly rollups in ``ranges``: (hour, (type, runs,
    succeeded, partial + failed + orphaned)) — what organisation health keeps of settled hours."""
    if not ranges:
        return []
    h = RunHourlyRollup
    rows = await session.execute(
        select(
            h.hour,
            C.integration_type,
            func.sum(h.runs),
            func.sum(h.succeeded),
            func.sum(h.partial + h.failed + h.orphaned),
        )
        .join(C, C.id == h.connection_id)
        .where(h.organisation_id == organisation_id, or_(*(and_(h.hour >= a, h.hour < b) for a, b in ranges)))
        .group_by(h.hour, C.integration_type)
    )
    out = []
    for hour, t, n, s, f in rows:
        at = as_utc(hour)
        assert at is not None
        out.append((at, (t, int(n or 0), int(s or 0), int(f or 0))))
    return out


def _raw_count_select(organisation_id: int, a: datetime, b: datetime) -> Any:
    succeeded = Run.outcome == "succeeded"
    return (
        select(
            C.integration_type,
            func.count(),
            func.sum(case((succeeded, 1), else_=0)),
            func.sum(case((succeeded, 0), else_=1)),
        )
        .join(C, C.id == Run.connection_id)
        .where(C.organisation_id == organisation_id, run_filters.completed_in(a, b))
        .group_by(C.integration_type)
    )


async def completed_in_hour(
    session: AsyncSession, organisation_id: int, hour: datetime
) -> list[tuple[str, datetime, bool]]:
    """(integration_type, completed_at, succeeded) of the organisation's runs completed in the
    hour from ``hour``: the window's first partial hour, kept once it is settled."""
    rows = await session.execute(
        select(C.integration_type, Run.completed_at, Run.outcome == "succeeded")
        .join(C, C.id == Run.connection_id)
        .where(C.organisation_id == organisation_id, run_filters.completed_in(hour, hour + HOUR))
    )
    out = []
    for t, completed_at, succeeded in rows:
        at = as_utc(completed_at)
        assert at is not None
        out.append((t, at, bool(succeeded)))
    return out


async def rollup_latest(
    session: AsyncSession,
    organisation_id: int,
    table: type[RunDailyRollup] | type[RunHourlyRollup],
    a: datetime,
    b: datetime,
) -> list[tuple[str, datetime | None, datetime | None, datetime | None]]:
    """Per type, the start of the latest hour (or day) in ``[a, b)`` with a run, a success and a
    failing run: what is left of the latest times once the raw runs are gone."""
    if a >= b:
        return []
    when = table.day if table is RunDailyRollup else table.hour  # type: ignore[union-attr]

    def latest(count: Any) -> Any:
        return func.max(case((count > 0, when)))

    rows = await session.execute(
        select(
            C.integration_type,
            latest(table.runs),
            latest(table.succeeded),
            latest(table.partial + table.failed + table.orphaned),
        )
        .join(C, C.id == table.connection_id)
        .where(table.organisation_id == organisation_id, when >= a, when < b)
        .group_by(C.integration_type)
    )
    return [(t, as_utc(x), as_utc(y), as_utc(z)) for t, x, y, z in rows]


def _ahead(organisation_id: int, b: datetime) -> Any:
    """The organisation's connections with a run completed at or after ``b``."""
    t = ConnectionRunTimes
    return select(t.connection_id).where(t.organisation_id == organisation_id, t.last_completed_at >= b)


def _hour_edge_selects(organisation_id: int, a: datetime, b: datetime) -> list[Any]:
    """``[a, b)`` within one hour from ``a`` on, the current hour's edge: its hourly rollup row
    for every connection with no run completed at or after ``b`` (the row holds exactly the
    runs of ``[a, b)`` then), raw runs for the others (a loader's clock ahead)."""
    h, t = RunHourlyRollup, ConnectionRunTimes
    rollup = (
        select(
            C.integration_type,
            func.sum(h.runs),
            func.sum(h.succeeded),
            func.sum(h.partial + h.failed + h.orphaned),
        )
        .join(C, C.id == h.connection_id)
        .outerjoin(t, t.connection_id == h.connection_id)
        .where(
            h.organisation_id == organisation_id,
            h.hour == a,
            or_(t.last_completed_at.is_(None), t.last_completed_at < b),
        )
        .group_by(C.integration_type)
    )
    raw = _raw_count_select(organisation_id, a, b).where(Run.connection_id.in_(_ahead(organisation_id, b)))
    return [rollup, raw]


async def raw_counts(
    session: AsyncSession,
    organisation_id: int,
    ranges: Ranges,
    hour_edge: tuple[datetime, datetime] | None = None,
) -> list[tuple[str, int, int, int]]:
    """(integration_type, runs, succeeded, failing) of the completed runs in the raw edges,
    and in ``hour_edge`` (see :func:`_hour_edge_selects`).

    One SELECT per range in one statement (one snapshot, so a report between two of them
    cannot be counted twice): a single range lets PostgreSQL probe
    ix_runs_connection_completed per connection, where an OR of ranges makes it scan the
    whole table.
    """
    parts = [_raw_count_select(organisation_id, a, b) for a, b in ranges if a < b]
    if hour_edge is not None:
        parts += _hour_edge_selects(organisation_id, *hour_edge)
    if not parts:
        return []
    statement: Any = parts[0] if len(parts) == 1 else union_all(*parts)
    rows = await session.execute(statement)
    return [(t, int(n), int(s or 0), int(f or 0)) for t, n, s, f in rows]


async def orphans(
    session: AsyncSession, organisation_id: int, started_from: datetime, started_to: datetime
) -> list[tuple[str, int, datetime]]:
    """Per type, (integration_type, how many, latest started_at) of the pending runs that started
    in ``[started_from, started_to)``: one row a type, however many orphans there are."""
    if started_from >= started_to:
        return []
    rows = await session.execute(
        select(C.integration_type, func.count(), func.max(Run.started_at))
        .join(C, C.id == Run.connection_id)
        .where(
            C.organisation_id == organisation_id,
            run_filters.unreported_started_in(started_from, started_to),
        )
        .group_by(C.integration_type)
    )
    out = []
    for t, n, latest in rows:
        started = as_utc(latest)
        assert started is not None
        out.append((t, int(n), started))
    return out


async def latest_times(
    session: AsyncSession, organisation_id: int, a: datetime, b: datetime
) -> list[tuple[str, datetime | None, datetime | None, datetime | None]]:
    """Per type: (integration_type, latest completion, latest success, latest failure) in [a, b).

    From the latest times every report keeps, the latest per type taken by the database (one
    row a type, not a connection); a connection whose latest time of a kind is not before ``b``
    (a report from a clock ahead) is looked up in its runs instead, one row each.
    """
    t = ConnectionRunTimes
    kinds = (t.last_completed_at, t.last_succeeded_at, t.last_failing_at)
    # IS NOT NULL first, so a connection with no times is plainly not ahead (never NULL).
    ahead = or_(*(and_(kind.is_not(None), kind >= b) for kind in kinds))
    # One statement: a row per type for the connections that are not ahead, and a row per
    # connection (its id) for those that are.
    # Grouped outside a subquery: PostgreSQL would not match a parameterised CASE in the
    # select list with the same CASE in GROUP BY.
    each = (
        select(
            C.integration_type,
            case((ahead, C.id)).label("skewed"),
            *(case((kind >= a, kind)).label(f"kind_{i}") for i, kind in enumerate(kinds)),
        )
        .outerjoin(t, t.connection_id == C.id)
        .where(C.organisation_id == organisation_id)
        .subquery()
    )
    times_of_kinds = [func.max(each.c[f"kind_{i}"]) for i in range(len(kinds))]
    rows = await session.execute(
        select(each.c.integration_type, each.c.skewed, *times_of_kinds).group_by(
            each.c.integration_type, each.c.skewed
        )
    )
    out, ids = [], []
    for integration_type, skewed_id, *times in rows:
        if skewed_id is not None:
            ids.append(skewed_id)
        else:
            out.append((integration_type, *(as_utc(x) for x in times)))
    if ids:
        out += await _latest_times_of_runs(session, ids, a, b)
    return out


async def _latest_times_of_runs(
    session: AsyncSession, connection_ids: Sequence[str], a: datetime, b: datetime
) -> list[tuple[str, datetime | None, datetime | None, datetime | None]]:
    """Correlated max() per connection, each answered from the end of an index."""
    r = Run.__table__.alias("r")

    def latest(*where: Any) -> Any:
        return (
            select(func.max(r.c.completed_at))
            .where(r.c.connection_id == C.id, r.c.completed_at >= a, r.c.completed_at < b, *where)
            .scalar_subquery()
        )

    rows = await session.execute(
        select(
            C.integration_type,
            latest(),
            latest(r.c.outcome == "succeeded"),
            latest(text("r.outcome IN ('partial', 'failed')")),
        ).where(one_of(session, C.id, connection_ids))
    )
    return [(t, as_utc(x), as_utc(y), as_utc(z)) for t, x, y, z in rows]
