"""SQL behind the metrics API and bulk metrics: one query per table for all connections.

Every read is bounded by an index: rollup rows of the range, raw runs of at most the
partial hours at the range's edges, pending rows, and top-N probes per connection.
Times are half-open ``[a, b)`` unless a name says otherwise.
"""

from __future__ import annotations

import bisect
import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, TextClause, and_, bindparam, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import dialect
from pipepulse.db.dialect import as_utc, one_of
from pipepulse.db.models import EventHourlyRollup, Run, RunHourlyRollup
from pipepulse.db.run_rows import RUN_COLUMNS, RunRow
from pipepulse.kit import run_filters
from pipepulse.metrics.values import Accumulator
from pipepulse.rules import Tally

HOUR_COLUMNS = (
    RunHourlyRollup.runs,
    RunHourlyRollup.succeeded,
    RunHourlyRollup.partial,
    RunHourlyRollup.failed,
    RunHourlyRollup.events_delivered,
    RunHourlyRollup.batches_dlq,
    RunHourlyRollup.latency_sum_ms,
    RunHourlyRollup.latency_count,
    RunHourlyRollup.orphaned,
)


def summed(additive: Sequence[Any], last_delivery_at: Any, pending_at: Any, pending: Any) -> Accumulator:
    """An :class:`Accumulator` from the :data:`HOUR_COLUMNS` sums and the three gauges of a row.

    Raw edge sums carry no ``orphaned`` (the ninth column): their orphans come from pending rows.
    """
    v = [int(x or 0) for x in additive]
    return Accumulator(
        tally=Tally(
            runs=v[0],
            succeeded=v[1],
            partial=v[2],
            failed=v[3],
            events_delivered=v[4],
            batches_dlq=v[5],
            orphaned=v[8] if len(v) > 8 else 0,
        ),
        latency_sum_ms=v[6],
        latency_count=v[7],
        last_delivery_at=as_utc(last_delivery_at),
        events_pending_at=as_utc(pending_at),
        events_pending=None if pending is None else int(pending),
    )


def summed_with_types(row: Sequence[Any], by_type: dict[str, int]) -> Accumulator:
    """A row of raw sums (its key, the :data:`HOUR_COLUMNS` sums, the three gauges) with its
    typed events; events reported without a breakdown are "other", as typed_events() counts them."""
    rest = int(row[5] or 0) - sum(by_type.values())
    if rest > 0:
        by_type["other"] = by_type.get("other", 0) + rest
    values = summed(row[1:9], row[9], row[10], row[11])
    values.add_events(by_type)
    return values


async def hour_rows(
    session: AsyncSession, connection_id: str, hours_from: datetime, hours_to: datetime
) -> list[tuple[datetime, Accumulator]]:
    """One connection's hourly rollups in ``[hours_from, hours_to)``."""
    r = RunHourlyRollup
    rows = await session.execute(
        select(r.hour, *HOUR_COLUMNS, r.last_delivery_at, r.events_pending_at, r.events_pending).where(
            r.connection_id == connection_id, r.hour >= hours_from, r.hour < hours_to
        )
    )
    return [(row[0], summed(row[1:10], row[10], row[11], row[12])) for row in rows]


async def event_hour_rows(
    session: AsyncSession, connection_id: str, hours_from: datetime, hours_to: datetime
) -> list[tuple[datetime, str, int]]:
    e = EventHourlyRollup
    rows = await session.execute(
        select(e.hour, e.event_type, e.events).where(
            e.connection_id == connection_id, e.hour >= hours_from, e.hour < hours_to
        )
    )
    return [(h, t, int(n)) for h, t, n in rows]


async def hour_sums(
    session: AsyncSession,
    connection_ids: Sequence[str],
    hours_from: datetime,
    hours_to: datetime,
) -> dict[str, Accumulator]:
    """Per connection: rollups of ``[hours_from, hours_to)`` summed in the database."""
    if not connection_ids or hours_from >= hours_to:
        return {}
    r = RunHourlyRollup
    in_range = and_(one_of(session, r.connection_id, connection_ids), r.hour >= hours_from, r.hour < hours_to)
    sums = await session.execute(
        select(
            r.connection_id,
            *(func.sum(c) for c in HOUR_COLUMNS),
            func.max(r.last_delivery_at),
            func.max(r.events_pending_at),
        )
        .where(in_range)
        .group_by(r.connection_id)
    )
    out: dict[str, tuple[Any, ...]] = {row[0]: tuple(row[1:]) for row in sums}
    # The value at each connection's latest events_pending_at (ties keep the larger value).
    latest = (
        select(r.connection_id.label("cid"), func.max(r.events_pending_at).label("at"))
        .where(in_range, r.events_pending_at.is_not(None))
        .group_by(r.connection_id)
        .subquery()
    )
    pending = await session.execute(
        select(r.connection_id, func.max(r.events_pending))
        .join(latest, and_(latest.c.cid == r.connection_id, latest.c.at == r.events_pending_at))
        .where(in_range)
        .group_by(r.connection_id)
    )
    pending_by_id = {row[0]: row[1] for row in pending}
    result = {}
    for cid, values in out.items():
        result[cid] = summed(values[:9], values[9], values[10], pending_by_id.get(cid))
    return result


async def event_sums(
    session: AsyncSession, connection_ids: Sequence[str], hours_from: datetime, hours_to: datetime
) -> dict[str, dict[str, int]]:
    if not connection_ids or hours_from >= hours_to:
        return {}
    e = EventHourlyRollup
    rows = await session.execute(
        select(e.connection_id, e.event_type, func.sum(e.events))
        .where(one_of(session, e.connection_id, connection_ids), e.hour >= hours_from, e.hour < hours_to)
        .group_by(e.connection_id, e.event_type)
    )
    out: dict[str, dict[str, int]] = {}
    for cid, event_type, events in rows:
        out.setdefault(cid, {})[event_type] = int(events or 0)
    return out


async def completed_runs(
    session: AsyncSession, connection_ids: Sequence[str], intervals: Sequence[tuple[datetime, datetime]]
) -> list[RunRow]:
    """Completed runs whose ``completed_at`` falls in any of the intervals."""
    if not connection_ids or not intervals:
        return []
    ranges = [run_filters.completed_in(a, b) for a, b in intervals]
    rows = await session.execute(
        select(*RUN_COLUMNS).where(one_of(session, Run.connection_id, connection_ids), or_(*ranges))
    )
    return [RunRow.from_row(row) for row in rows]


async def pending_runs(
    session: AsyncSession, connection_ids: Sequence[str], started_from: datetime, started_to: datetime
) -> list[RunRow]:
    """Runs still pending that started in ``[started_from, started_to)`` (ix_runs_pending)."""
    if not connection_ids or started_from >= started_to:
        return []
    rows = await session.execute(
        select(*RUN_COLUMNS).where(
            one_of(session, Run.connection_id, connection_ids),
            run_filters.unreported_started_in(started_from, started_to),
        )
    )
    return [RunRow.from_row(row) for row in rows]


@dataclass(frozen=True)
class LatestSpec:
    """Ask for the newest ``n`` completed runs of a connection with ``a <= completed_at < b``."""

    key: int
    connection_id: str
    a: datetime
    b: datetime


SPEC_COLUMNS: dialect.KeyColumns = {
    "key": Integer(),
    "cid": String(),
    "a": DateTime(timezone=True),
    "b": DateTime(timezone=True),
}


@functools.cache
def _latest_completed(name: str, slots: int) -> Any:
    def newest(spec: Any) -> Any:
        return (
            select(*RUN_COLUMNS)
            .where(Run.connection_id == spec.cid, run_filters.completed_in(spec.a, spec.b))
            .order_by(Run.completed_at.desc(), Run.started_at.desc(), Run.id.desc())
            .limit(bindparam("n", type_=Integer()))
        )

    return dialect.newest_per_key(name, slots, {"latest": newest}, SPEC_COLUMNS)


async def latest_completed(
    session: AsyncSession, specs: Sequence[LatestSpec], n: int
) -> dict[int, list[RunRow]]:
    """Per spec, the newest ``n`` completed runs, newest first as the status rule orders them:
    by (completed_at, started_at, id) descending."""
    out: dict[int, list[RunRow]] = {s.key: [] for s in specs}
    name = dialect.name_of(session)
    chunk = dialect.keys_per_statement(name)
    for i in range(0, len(specs), chunk):
        part = specs[i : i + chunk]
        keys = [{"key": s.key, "cid": s.connection_id, "a": s.a, "b": s.b} for s in part]
        params = dialect.key_params(name, keys, SPEC_COLUMNS) | {"n": n}
        for row in await session.execute(_latest_completed(name, dialect.key_slots(name, len(part))), params):
            out[row.key].append(RunRow.from_row(row))
    for runs in out.values():
        runs.sort(key=lambda r: (r.completed_at, r.started_at, r.id), reverse=True)
    return out


# PostgreSQL aggregates raw edges where they lie instead of shipping every run (and its JSON
# breakdown) to Python (see EDGE_SUMS). Latency matches run_latency_ms bit for bit: the exact
# epoch difference rounded to a double, times 1000 in double precision, truncated.
EDGE_SUMS_SQL = text(
    """
    SELECT connection_id,
           count(*),
           count(*) FILTER (WHERE outcome = 'succeeded'),
           count(*) FILTER (WHERE outcome = 'partial'),
           count(*) FILTER (WHERE outcome = 'failed'),
           sum(events_delivered),
           sum(batches_dlq),
           sum(coalesce(latency_ms,
               trunc(extract(epoch FROM completed_at - started_at)::float8 * 1000)::bigint)),
           count(*),
           max(completed_at) FILTER (WHERE events_delivered > 0),
           max(completed_at) FILTER (WHERE events_pending IS NOT NULL),
           (array_agg(events_pending ORDER BY completed_at DESC, events_pending DESC)
               FILTER (WHERE events_pending IS NOT NULL))[1]
    FROM runs
    WHERE connection_id = ANY(CAST(:ids AS text[])) AND completed_at >= :a AND completed_at < :b
    GROUP BY connection_id
    """
)
EDGE_TYPES_SQL = text(
    """
    SELECT r.connection_id, kv.key, sum(kv.value::bigint)
    FROM runs r CROSS JOIN LATERAL json_each_text(r.events_by_type) AS kv
    WHERE r.connection_id = ANY(CAST(:ids AS text[])) AND r.completed_at >= :a AND r.completed_at < :b
      AND json_typeof(r.events_by_type) = 'object'
    GROUP BY r.connection_id, kv.key
    """
)


async def edge_sums(
    session: AsyncSession, connection_ids: Sequence[str], a: datetime, b: datetime
) -> dict[str, Accumulator]:
    """Per connection, the completed runs with ``a <= completed_at < b`` summed."""
    return await EDGE_SUMS.of(session)(session, connection_ids, a, b)


async def _edge_sums_in_python(
    session: AsyncSession, connection_ids: Sequence[str], a: datetime, b: datetime
) -> dict[str, Accumulator]:
    # SQLite cannot sum a JSON breakdown: the runs are read and added one by one.
    accs: dict[str, Accumulator] = defaultdict(Accumulator)
    for run in await completed_runs(session, connection_ids, [(a, b)]):
        accs[run.connection_id].add_run(run)
    return accs


async def _edge_sums_in_sql(
    session: AsyncSession, connection_ids: Sequence[str], a: datetime, b: datetime
) -> dict[str, Accumulator]:
    params = {"ids": list(connection_ids), "a": a, "b": b}
    typed: dict[str, dict[str, int]] = {}
    for cid, key, events in await session.execute(EDGE_TYPES_SQL, params):
        if events:
            typed.setdefault(cid, {})[key] = int(events)
    out = {}
    for row in await session.execute(EDGE_SUMS_SQL, params):
        out[row[0]] = summed_with_types(row, typed.get(row[0], {}))
    return out


EdgeSums = Callable[[AsyncSession, Sequence[str], datetime, datetime], Awaitable[dict[str, Accumulator]]]
EDGE_SUMS = dialect.PerDatabase[EdgeSums](postgresql=_edge_sums_in_sql, sqlite=_edge_sums_in_python)


# The raw runs of a timeseries summed per bucket where they lie, as EDGE_SUMS does per
# connection: the Python work of a sub-hour series is then one row per bucket, not one per
# run. The bucket of a run is the last bucket start at or before its completed_at
# (width_bucket over the sorted starts), so clipped, snapped and month buckets need no
# arithmetic of their own. Latency as in EDGE_SUMS_SQL, floored at 0 as run_latency_ms is.
_BUCKET_SUMS = """
    SELECT bucket,
           count(*),
           count(*) FILTER (WHERE outcome = 'succeeded'),
           count(*) FILTER (WHERE outcome = 'partial'),
           count(*) FILTER (WHERE outcome = 'failed'),
           sum(events_delivered),
           sum(batches_dlq),
           sum(coalesce(latency_ms, greatest(0,
               trunc(extract(epoch FROM completed_at - started_at)::float8 * 1000)::bigint))),
           count(*),
           max(completed_at) FILTER (WHERE events_delivered > 0),
           max(completed_at) FILTER (WHERE events_pending IS NOT NULL),
           (array_agg(events_pending ORDER BY completed_at DESC, events_pending DESC)
               FILTER (WHERE events_pending IS NOT NULL))[1]
    FROM picked
    GROUP BY bucket
"""
_BUCKET_TYPES = """
    SELECT p.bucket, kv.key, sum(kv.value::bigint)
    FROM picked p CROSS JOIN LATERAL json_each_text(p.events_by_type) AS kv
    WHERE json_typeof(p.events_by_type) = 'object'
    GROUP BY p.bucket, kv.key
"""


@functools.cache
def bucket_statements(ranges: int) -> tuple[TextClause, TextClause]:
    """The sums and the per-type sums of :func:`bucket_sums` over ``ranges`` ranges (bound as
    ``a0``, ``b0``, …): each range its own arm, so each is one index range of the connection's
    runs. (The ranges as arrays joined to the runs let a prepared statement's plan read every
    run the connection ever had and filter them: 13 ms a statement on a month of five-minute
    runs, growing with the history.)"""
    arms = " UNION ALL ".join(
        f"SELECT * FROM runs WHERE connection_id = :cid AND completed_at >= :a{i} AND completed_at < :b{i}"
        for i in range(ranges)
    )
    picked = f"""
    WITH picked AS (
        SELECT r.*, width_bucket(r.completed_at, CAST(:starts AS timestamptz[])) - 1 AS bucket
        FROM ({arms}) AS r
    )
    """
    return text(picked + _BUCKET_SUMS), text(picked + _BUCKET_TYPES)


async def bucket_sums(
    session: AsyncSession,
    connection_id: str,
    starts: Sequence[datetime],
    ranges: Sequence[tuple[datetime, datetime]],
) -> dict[int, Accumulator]:
    """One connection's completed runs with ``completed_at`` in any of ``ranges``, summed per
    bucket: the key is the index of the last of the ascending ``starts`` at or before the
    run's ``completed_at`` (runs before the first start are left out)."""
    if not ranges or not starts:
        return {}
    return await BUCKET_SUMS.of(session)(session, connection_id, starts, ranges)


async def bucket_sums_in_python(
    session: AsyncSession,
    connection_id: str,
    starts: Sequence[datetime],
    ranges: Sequence[tuple[datetime, datetime]],
) -> dict[int, Accumulator]:
    """:func:`bucket_sums` from the runs read and added one by one (SQLite cannot sum a JSON
    breakdown); also the reference the database's sums are tested against."""
    accs: dict[int, Accumulator] = defaultdict(Accumulator)
    for run in await completed_runs(session, [connection_id], ranges):
        assert run.completed_at is not None
        i = bisect.bisect_right(starts, run.completed_at) - 1
        if i >= 0:
            accs[i].add_run(run)
    return dict(accs)


async def _bucket_sums_in_sql(
    session: AsyncSession,
    connection_id: str,
    starts: Sequence[datetime],
    ranges: Sequence[tuple[datetime, datetime]],
) -> dict[int, Accumulator]:
    params: dict[str, Any] = {"cid": connection_id, "starts": list(starts)}
    for i, (a, b) in enumerate(ranges):
        params |= {f"a{i}": a, f"b{i}": b}
    sums, types = bucket_statements(len(ranges))
    typed: dict[int, dict[str, int]] = {}
    for i, key, events in await session.execute(types, params):
        if events and i >= 0:
            typed.setdefault(i, {})[key] = int(events)
    out = {}
    for row in await session.execute(sums, params):
        if row[0] >= 0:  # a run outside every bucket
            out[row[0]] = summed_with_types(row, typed.get(row[0], {}))
    return out


BucketSums = Callable[
    [AsyncSession, str, Sequence[datetime], Sequence[tuple[datetime, datetime]]],
    Awaitable[dict[int, Accumulator]],
]
BUCKET_SUMS = dialect.PerDatabase[BucketSums](postgresql=_bucket_sums_in_sql, sqlite=bucket_sums_in_python)
