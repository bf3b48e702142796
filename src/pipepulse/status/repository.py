"""The reads behind status history and connection health: bounded, indexed, one connection.

Runs are read by the instant they finished, for a range and never for the whole history:
completed ones through ``ix_runs_connection_completed``, orphans through the small partial
index of pending rows. The probes (earliest finished run, last delivery before an instant)
are single index lookups; the volume comes from the hourly rollups.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from pipepulse.db import dialect
from pipepulse.db.dialect import as_utc
from pipepulse.db.models import Run, RunHourlyRollup
from pipepulse.kit import run_filters
from pipepulse.rollups.plan import HOUR, floor_hour
from pipepulse.status.timeline import TICK, FinishedRun, finished_run, in_order, streak_before

# Literal, so PostgreSQL matches the partial index ix_runs_delivering under any plan.
DELIVERING = text("runs.events_delivered > 0")


def _t(name: str) -> Any:
    return bindparam(name, type_=Run.__table__.c.completed_at.type)


# The driver's own datetimes (aware on PostgreSQL, text or naive on SQLite, normalised by
# _utc below): thousands of rows skip the per-value UTC type decorator.
TIMELINE_COLUMNS = (
    Run.id,
    type_coerce(Run.started_at, DateTime(timezone=True)).label("started_at"),
    type_coerce(Run.completed_at, DateTime(timezone=True)).label("completed_at"),
    Run.events_delivered,
    Run.batches_dlq,
    Run.error,
)


@functools.cache
def _finished_between(database: str) -> Any:
    # Built once per database: ``ids`` is one array parameter on PostgreSQL, a list on SQLite.
    cid = Run.connection_id.label("cid")
    completed = select(cid, *TIMELINE_COLUMNS).where(
        dialect.in_param(database, Run.connection_id, "ids"), run_filters.completed_in(_t("lo"), _t("hi"))
    )
    # A run never reported finishes (as an orphan) at started_at + window.
    orphans = select(cid, *TIMELINE_COLUMNS).where(
        dialect.in_param(database, Run.connection_id, "ids"),
        run_filters.unreported_started_in(_t("orphans_lo"), _t("orphans_hi")),
    )
    return union_all(completed, orphans)


async def finished_between(
    session: AsyncSession | AsyncConnection,
    ids: Sequence[str],
    after: datetime,
    until: datetime,
    orphan_window: timedelta,
) -> dict[str, list[FinishedRun]]:
    """Per connection (each of ``ids`` a key), its runs whose finished time is in ``(after, until]``,
    as they finish (unordered: see timeline.in_order). The one reader of "runs finished in a
    range", for one connection (status history, objectives) or thousands (the evaluation)."""
    # (after, until] is [after + TICK, until + TICK): times are kept to the microsecond.
    lo, hi = after + TICK, until + TICK
    params = {"lo": lo, "hi": hi, "orphans_lo": lo - orphan_window, "orphans_hi": hi - orphan_window}
    statement = _finished_between(dialect.name_of(session))
    out: dict[str, list[FinishedRun]] = {cid: [] for cid in ids}
    for chunk in dialect.chunks(session, list(ids)):
        for cid, i, s, c, e, d, err in await session.execute(statement, params | {"ids": list(chunk)}):
            out[cid].append(finished_run(i, _utc(s), _utc(c), e, d, err, orphan_window))
    return out


async def finished_runs_of(
    session: AsyncSession | AsyncConnection,
    connection_id: str,
    after: datetime,
    until: datetime,
    orphan_window: timedelta,
) -> list[FinishedRun]:
    """One connection's runs finished in ``(after, until]`` (see :func:`finished_between`)."""
    return (await finished_between(session, [connection_id], after, until, orphan_window))[connection_id]


# With fewer runs than this in a range that are not of a healthy run's kind (failing, or
# delivering nothing: timeline.run_kind), the change points are found among those runs, their
# neighbours and each UTC day's first and last run, each an index probe; with more, among every
# run of the range (a pipeline failing for weeks). Either way the same runs (the property test
# of tests/history/test_change_points_property.py runs both).
SPARSE_UP_TO = 1_000

# Literal, so PostgreSQL matches the partial indexes ix_runs_failing and ix_runs_quiet.
FAILING_OUTCOME = text("runs.outcome IN ('partial', 'failed')")
QUIET = text("runs.events_delivered = 0 AND runs.completed_at IS NOT NULL")


def _odd_runs(database: str) -> Any:
    """The range's runs of another kind than a healthy run's, as (finished time, start, id):
    the failing and the quiet ones (each on its small partial index) and the orphans."""
    completed = select(Run.completed_at.label("t"), Run.started_at.label("s"), Run.id.label("i")).where(
        Run.connection_id == bindparam("cid"), run_filters.completed_in(_t("lo"), _t("hi"))
    )
    orphans = select(
        dialect.plus_seconds(database, Run.started_at, bindparam("window_seconds", type_=Integer)).label("t"),
        Run.started_at.label("s"),
        Run.id.label("i"),
    ).where(
        Run.connection_id == bindparam("cid"),
        run_filters.unreported_started_in(_t("orphans_lo"), _t("orphans_hi")),
    )
    return union(completed.where(FAILING_OUTCOME), completed.where(QUIET), orphans).cte("odd")


def _next_completed(
    database: str, at: tuple[Any, Any, Any] | None, *, before: bool, within: Any = None
) -> Any:
    """The id of the completed run of the range just before (or after) ``at`` = (finished time,
    start, id) in §3's order of "latest", or of the first (last) one in ``within`` = (from, to)
    when given: one probe down ``ix_runs_connection_completed``, ties on the time sorted."""
    r = aliased(Run)
    key = (r.completed_at, r.started_at, dialect.bytewise(database, r.id))
    where = [r.connection_id == bindparam("cid"), r.completed_at >= _t("lo"), r.completed_at < _t("hi")]
    if within is not None:
        where += [r.completed_at >= within[0], r.completed_at < within[1]]
    if at is not None:
        # The time alone too, so that both databases bound the index scan by it.
        mark = tuple_(at[0], at[1], dialect.bytewise(database, at[2]))
        where += (
            [r.completed_at <= at[0], tuple_(*key) < mark]
            if before
            else [
                r.completed_at >= at[0],
                tuple_(*key) > mark,
            ]
        )
    return (
        select(r.id)
        .where(*where)
        .order_by(*(c.desc() for c in key) if before else key)
        .limit(1)
        .correlate_except(r)
        .scalar_subquery()
    )


def _sparse_ids(database: str, odd: Any) -> Any:
    """The ids among which the change points are, when the odd runs are few: the odd runs,
    each one's neighbours among the completed runs, and each UTC day's first and last run."""
    at = (odd.c.t, odd.c.s, odd.c.i)
    day = bindparam("day_seconds", type_=Integer)
    days = select(_t("first_day").label("d")).cte("days", recursive=True)
    days = days.union_all(
        select(dialect.plus_seconds(database, days.c.d, day)).where(
            dialect.plus_seconds(database, days.c.d, day) < _t("hi")
        )
    )
    within = (days.c.d, dialect.plus_seconds(database, days.c.d, day))
    return union(
        select(odd.c.i.label("i")),
        select(_next_completed(database, at, before=True)).select_from(odd),
        select(_next_completed(database, at, before=False)).select_from(odd),
        select(_next_completed(database, None, before=False, within=within)).select_from(days),
        select(_next_completed(database, None, before=True, within=within)).select_from(days),
    ).subquery("wanted")


@functools.cache
def _change_points(database: str) -> Any:
    # Built once per database. The runs finished in the range with their finished time, kind
    # (timeline.run_kind) and UTC day — every run, or when the odd runs are few only those
    # among which the change points are; then each with its neighbours' kind and day, the
    # failing runs up to it and its place in its failing streak; kept: timeline.change_points.
    cid: Any = bindparam("cid")
    lo, hi = _t("lo"), _t("hi")
    odd = _odd_runs(database)
    limit = bindparam("sparse_up_to", type_=Integer)
    few = select(func.count()).select_from(select(odd.c.i).limit(limit).subquery()).scalar_subquery() < limit
    wanted = _sparse_ids(database, odd)
    finished = union_all(
        select(*TIMELINE_COLUMNS, Run.completed_at.label("time"))
        .select_from(wanted.join(Run, and_(Run.connection_id == cid, Run.id == wanted.c.i)))
        # Every wanted run finished in the range (the orphans come below); no range here, so
        # that no plan, generic ones included, reads the range's runs to join them.
        .where(Run.completed_at.is_not(None), few),
        select(*TIMELINE_COLUMNS, Run.completed_at.label("time")).where(
            Run.connection_id == cid, run_filters.completed_in(lo, hi), ~few
        ),
        select(
            *TIMELINE_COLUMNS,
            dialect.plus_seconds(database, Run.started_at, bindparam("window_seconds", type_=Integer)).label(
                "time"
            ),
        ).where(
            Run.connection_id == cid,
            run_filters.unreported_started_in(_t("orphans_lo"), _t("orphans_hi")),
        ),
    ).subquery("finished")
    failing = case(
        (
            or_(finished.c.completed_at.is_(None), finished.c.error.is_not(None), finished.c.batches_dlq > 0),
            1,
        ),
        else_=0,
    )
    delivering = case(
        (and_(finished.c.completed_at.is_not(None), finished.c.events_delivered > 0), 1), else_=0
    )
    kinds = select(
        *finished.c,
        failing.label("failing"),
        (2 * failing + delivering).label("kind"),
        dialect.utc_day(database, finished.c.time).label("day"),
    ).subquery("kinds")
    order = (kinds.c.time, kinds.c.started_at, dialect.bytewise(database, kinds.c.id))
    marked = select(
        *kinds.c,
        func.lag(kinds.c.kind).over(order_by=order).label("kind_before"),
        func.lead(kinds.c.kind).over(order_by=order).label("kind_after"),
        func.lag(kinds.c.day).over(order_by=order).label("day_before"),
        func.lead(kinds.c.day).over(order_by=order).label("day_after"),
        func.sum(kinds.c.failing).over(order_by=order, rows=(None, 0)).label("failing_upto"),
        # Streaks are told apart by the succeeding runs before them.
        func.sum(1 - kinds.c.failing).over(order_by=order, rows=(None, 0)).label("streak"),
    ).subquery("marked")
    m = marked.c
    placed = select(
        *marked.c,
        (
            func.row_number().over(
                partition_by=m.streak, order_by=(m.time, m.started_at, dialect.bytewise(database, m.id))
            )
            - case((m.streak > 0, 1), else_=0)
        ).label("place"),
    ).subquery("placed")
    p = placed.c
    return (
        select(p.id, p.started_at, p.completed_at, p.events_delivered, p.batches_dlq, p.error, p.failing_upto)
        .where(
            or_(
                p.kind_before.is_(None),
                p.kind_after.is_(None),
                and_(p.failing == 1, p.place <= bindparam("error_runs", type_=Integer)),
                p.kind != p.kind_before,
                p.kind != p.kind_after,
                p.day != p.day_before,
                p.day != p.day_after,
            )
        )
        .order_by(p.time, p.started_at, dialect.bytewise(database, p.id))
    )


@dataclass(frozen=True)
class Counted:
    """A finished run with the failing runs finished up to it (itself included) since the start
    of the range it was read from."""

    run: FinishedRun
    failing_upto: int


async def change_point_runs(
    session: AsyncSession | AsyncConnection,
    connection_id: str,
    after: datetime,
    until: datetime,
    orphan_window: timedelta,
    error_runs: int,
    *,
    sparse_up_to: int = SPARSE_UP_TO,
) -> list[Counted]:
    """Of one connection's runs finished in ``(after, until]``, only those a status timeline
    needs (``timeline.change_points``, found by the database with window functions over the
    runs that are not healthy, their neighbours and each day's edges — or, with ``sparse_up_to``
    or more of the first, over every run of the range), oldest first, each with the failing runs
    finished up to it in the range."""
    lo, hi = after + TICK, until + TICK
    window = orphan_window.total_seconds()
    if window != int(window):
        raise ValueError("the orphan window must be whole seconds")
    params = {
        "cid": connection_id,
        "lo": lo,
        "hi": hi,
        "orphans_lo": lo - orphan_window,
        "orphans_hi": hi - orphan_window,
        "window_seconds": int(window),
        "error_runs": error_runs,
        "first_day": datetime(lo.year, lo.month, lo.day, tzinfo=UTC),
        "day_seconds": 86_400,
        "sparse_up_to": sparse_up_to,
    }
    rows = await session.execute(_change_points(dialect.name_of(session)), params)
    return [
        Counted(finished_run(i, _utc(s), _utc(c), e, d, err, orphan_window), int(upto))
        for i, s, c, e, d, err, upto in rows
    ]


def _utc(value: Any) -> Any:
    # A UNION on SQLite can hand times back as text; PostgreSQL's are aware UTC already.
    return value if value is None or getattr(value, "tzinfo", None) is UTC else as_utc(value)


@dataclass(frozen=True)
class Bounds:
    """The first instant any run of the connection finished (None: none ever will have)."""

    earliest_completed: datetime | None
    earliest_pending_start: datetime | None

    def earliest_finished(self, orphan_window: timedelta) -> datetime | None:
        times = [self.earliest_completed]
        if self.earliest_pending_start is not None:
            times.append(self.earliest_pending_start + orphan_window)
        found = [t for t in times if t is not None]
        return min(found) if found else None


@functools.cache
def _bounds() -> Any:
    cid: Any = bindparam("cid")
    completed = select(func.min(Run.completed_at)).where(Run.connection_id == cid).scalar_subquery()
    pending = (
        select(func.min(Run.started_at))
        .where(Run.connection_id == cid, run_filters.unreported())
        .scalar_subquery()
    )
    return select(completed.label("completed"), pending.label("pending"))


async def bounds(session: AsyncSession | AsyncConnection, connection_id: str) -> Bounds:
    row = (await session.execute(_bounds(), {"cid": connection_id})).one()
    return Bounds(as_utc(row.completed), as_utc(row.pending))


@functools.cache
def _last_delivery() -> Any:
    return select(func.max(Run.completed_at)).where(
        Run.connection_id == bindparam("cid"), DELIVERING, Run.completed_at <= _t("until")
    )


async def last_delivery(
    session: AsyncSession | AsyncConnection, connection_id: str, until: datetime
) -> datetime | None:
    """The latest ``completed_at`` at or before ``until`` of a run that delivered events."""
    return as_utc(await session.scalar(_last_delivery(), {"cid": connection_id, "until": until}))


@functools.cache
def _last_success() -> Any:
    # Only a completed run can be non-failing: no error, nothing dead-lettered.
    return select(func.max(Run.completed_at)).where(
        Run.connection_id == bindparam("cid"),
        Run.error.is_(None),
        Run.batches_dlq == 0,
        Run.completed_at.is_not(None),
        Run.completed_at < _t("before"),
    )


async def failing_streak_before(
    session: AsyncSession, connection_id: str, before: datetime, orphan_window: timedelta
) -> list[FinishedRun]:
    """The unbroken failing runs, oldest first, that finished last before ``before`` (an
    incident's failing streak, read back beyond the runs already in hand): the runs finished
    since the latest succeeding run before ``before`` (one index probe), all of them failing but
    for ties at that run's instant."""
    succeeded = as_utc(await session.scalar(_last_success(), {"cid": connection_id, "before": before}))
    if succeeded is not None:
        after = succeeded - TICK
    else:
        found = await bounds(session, connection_id)
        earliest = found.earliest_finished(orphan_window)
        if earliest is None or earliest >= before:
            return []
        after = earliest - TICK
    runs = in_order(await finished_runs_of(session, connection_id, after, before - TICK, orphan_window))
    if not runs or not runs[-1].failing:
        return []
    return runs[streak_before(runs, len(runs) - 1) :]


@functools.cache
def _hour_volumes(database: str) -> Any:
    # Built once per database: ``ids`` is one array parameter on PostgreSQL, a list on SQLite.
    r = RunHourlyRollup
    rollups = select(
        r.connection_id.label("cid"),
        r.hour.label("hour"),
        r.runs.label("runs"),
        r.events_delivered.label("events"),
    ).where(
        dialect.in_param(database, r.connection_id, "ids"),
        r.hour.in_(bindparam("hours", expanding=True)),
        r.runs > 0,
    )
    # Orphans are never rolled up, but an hour in which one finished did have a finished run.
    orphans = select(
        Run.connection_id.label("cid"),
        Run.started_at.label("hour"),
        literal(-1).label("runs"),
        literal(0).label("events"),
    ).where(
        dialect.in_param(database, Run.connection_id, "ids"),
        run_filters.unreported_started_in(_t("orphans_from"), _t("orphans_to")),
    )
    return union_all(rollups, orphans)


async def hour_volumes(
    session: AsyncSession, ids: Sequence[str], hours: Sequence[datetime], orphan_window: timedelta
) -> dict[str, dict[datetime, int]]:
    """Per connection (each of ``ids`` a key), the events delivered by runs finished in each of
    ``hours`` (UTC hour starts), for the hours in which a run finished (as ``GET …/health/``
    counts them: an hour whose only finished run is an orphan counts, with no events; an hour
    without any is absent). The one reader of "hour volumes", for one connection or thousands."""
    out: dict[str, dict[datetime, int]] = {cid: {} for cid in ids}
    if not ids or not hours:
        return out
    wanted = set(hours)
    params = {
        "hours": list(hours),
        "orphans_from": min(hours) - orphan_window,
        "orphans_to": max(hours) + HOUR - orphan_window,
    }
    statement = _hour_volumes(dialect.name_of(session))
    for chunk in dialect.chunks(session, list(ids)):
        for cid, hour, runs, events in await session.execute(statement, params | {"ids": list(chunk)}):
            start = as_utc(hour)
            assert start is not None
            if runs == -1:
                start = floor_hour(start + orphan_window)
                if start in wanted:
                    out[cid].setdefault(start, 0)
            else:
                out[cid][start] = int(events or 0)
    return out


@dataclass(frozen=True)
class HourCounts:
    """One UTC hour of a connection: finished runs, failing ones, events delivered."""

    runs: int = 0
    failing: int = 0
    events: int = 0


@functools.cache
def _hourly_counts() -> Any:
    r = RunHourlyRollup
    rollups = select(
        r.hour.label("hour"),
        r.runs.label("runs"),
        (r.partial + r.failed).label("failing"),
        r.events_delivered.label("events"),
    ).where(r.connection_id == bindparam("cid"), r.hour < _t("until"))
    orphans = select(
        Run.started_at.label("hour"),
        literal(-1).label("runs"),
        literal(1).label("failing"),
        literal(0).label("events"),
    ).where(
        Run.connection_id == bindparam("cid"),
        run_filters.unreported_started_in(None, _t("orphans_until")),
    )
    return union_all(rollups, orphans)


async def hourly_counts(
    session: AsyncSession, connection_id: str, until: datetime, orphan_window: timedelta
) -> dict[datetime, HourCounts]:
    """Every hour before ``until`` (an hour start) in which a run of the connection finished,
    from the hourly rollups plus the orphans (never rolled up), each in the hour it finished."""
    params = {"cid": connection_id, "until": until, "orphans_until": until - orphan_window}
    out: dict[datetime, HourCounts] = {}
    for hour, runs, failing, events in await session.execute(_hourly_counts(), params):
        start = as_utc(hour)
        assert start is not None
        if runs == -1:
            start, runs = floor_hour(start + orphan_window), 1
        found = out.get(start, HourCounts())
        out[start] = HourCounts(
            found.runs + int(runs), found.failing + int(failing), found.events + int(events or 0)
        )
    return out
