"""SQL behind the metrics API, bulk metrics and health: one query per table for all connections.

Every read is bounded by an index: rollup rows of the range, raw runs of at most the
partial hours at the range's edges, pending rows, and top-N / max probes per connection.
Times are half-open ``[a, b)`` unless a name says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    any_,
    bindparam,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import EventHourlyRollup, Run, RunHourlyRollup, WarehouseConnection

# Literal predicate so PostgreSQL matches the partial index ix_runs_failing.
FAILING_COMPLETED = text("runs.outcome IN ('partial', 'failed')")
DELIVERING = text("runs.events_delivered > 0")
SQLITE_COMPOUND_LIMIT = 200


def one_of(session: AsyncSession, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL as ``= ANY(array)``: one parameter, not hundreds to render."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RawRun:
    """A run as the metrics need it (completed, or pending for orphans)."""

    connection_id: str
    id: str
    started_at: datetime
    completed_at: datetime | None
    outcome: str
    events_delivered: int
    events_by_type: dict[str, Any] | None
    batches_dlq: int
    latency_ms: int | None
    events_pending: int | None


RAW_COLUMNS = (
    Run.connection_id,
    Run.id,
    Run.started_at,
    Run.completed_at,
    Run.outcome,
    Run.events_delivered,
    Run.events_by_type,
    Run.batches_dlq,
    Run.latency_ms,
    Run.events_pending,
)

HOUR_COLUMNS = (
    RunHourlyRollup.runs,
    RunHourlyRollup.succeeded,
    RunHourlyRollup.partial,
    RunHourlyRollup.failed,
    RunHourlyRollup.events_delivered,
    RunHourlyRollup.batches_dlq,
    RunHourlyRollup.latency_sum_ms,
    RunHourlyRollup.latency_count,
)


@dataclass(frozen=True)
class HourSums:
    """Additive rollup columns summed over some hours, plus the hours' gauges."""

    runs: int
    succeeded: int
    partial: int
    failed: int
    events_delivered: int
    batches_dlq: int
    latency_sum_ms: int
    latency_count: int
    last_delivery_at: datetime | None
    events_pending_at: datetime | None
    events_pending: int | None

    @classmethod
    def of(cls, additive: Sequence[Any], last_delivery_at: Any, pending_at: Any, pending: Any) -> HourSums:
        v = [int(x or 0) for x in additive]
        return cls(
            runs=v[0],
            succeeded=v[1],
            partial=v[2],
            failed=v[3],
            events_delivered=v[4],
            batches_dlq=v[5],
            latency_sum_ms=v[6],
            latency_count=v[7],
            last_delivery_at=as_utc(last_delivery_at),
            events_pending_at=as_utc(pending_at),
            events_pending=None if pending is None else int(pending),
        )


async def hour_rows(
    session: AsyncSession, connection_id: str, hours_from: datetime, hours_to: datetime
) -> list[tuple[datetime, HourSums]]:
    """One connection's hourly rollups in ``[hours_from, hours_to)``."""
    r = RunHourlyRollup
    rows = await session.execute(
        select(r.hour, *HOUR_COLUMNS, r.last_delivery_at, r.events_pending_at, r.events_pending).where(
            r.connection_id == connection_id, r.hour >= hours_from, r.hour < hours_to
        )
    )
    return [(row[0], HourSums.of(row[1:9], row[9], row[10], row[11])) for row in rows]


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
    *,
    with_pending: bool = True,
) -> dict[str, HourSums]:
    """Per connection: rollups of ``[hours_from, hours_to)`` summed in the database.

    ``with_pending=False`` leaves out the latest events_pending (one query fewer).
    """
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
    pending_by_id: dict[str, int | None] = {}
    if not with_pending:
        return {cid: HourSums.of(v[:8], v[8], None, None) for cid, v in out.items()}
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
        result[cid] = HourSums.of(values[:8], values[8], values[9], pending_by_id.get(cid))
    return result


def as_utc(value: Any) -> datetime | None:
    """Aggregates over UTC columns can come back untyped (text on SQLite); make them aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
) -> list[RawRun]:
    """Completed runs whose ``completed_at`` falls in any of the intervals."""
    if not connection_ids or not intervals:
        return []
    ranges = [and_(Run.completed_at >= a, Run.completed_at < b) for a, b in intervals]
    rows = await session.execute(
        select(*RAW_COLUMNS).where(one_of(session, Run.connection_id, connection_ids), or_(*ranges))
    )
    return [RawRun(*row) for row in rows]


async def pending_runs(
    session: AsyncSession, connection_ids: Sequence[str], started_from: datetime, started_to: datetime
) -> list[RawRun]:
    """Runs still pending that started in ``[started_from, started_to)`` (ix_runs_pending)."""
    if not connection_ids or started_from >= started_to:
        return []
    rows = await session.execute(
        select(*RAW_COLUMNS).where(
            one_of(session, Run.connection_id, connection_ids),
            Run.completed_at.is_(None),
            Run.started_at >= started_from,
            Run.started_at < started_to,
        )
    )
    return [RawRun(*row) for row in rows]


@dataclass(frozen=True)
class LatestSpec:
    """Ask for the newest ``n`` completed runs of a connection with ``a <= completed_at < b``."""

    key: int
    connection_id: str
    a: datetime
    b: datetime


LATEST_COLUMNS = (Run.connection_id, Run.id, Run.started_at, Run.completed_at, Run.outcome)


async def latest_completed(
    session: AsyncSession, specs: Sequence[LatestSpec], n: int
) -> dict[int, list[tuple[str, datetime, datetime, str, int | None, int | None]]]:
    """Per spec, the newest ``n`` completed runs: (id, started_at, completed_at, outcome, latency, pending).

    Newest means ordered by (completed_at, started_at, id) descending, as the status rule orders.
    PostgreSQL answers all specs with one LATERAL join; SQLite with chunks of UNION ALL.
    """
    if not specs:
        return {}
    out: dict[int, list[tuple[str, datetime, datetime, str, int | None, int | None]]] = {
        s.key: [] for s in specs
    }
    if session.get_bind().dialect.name == "postgresql":
        stmt = text(
            """
            SELECT s.key, r.id, r.started_at, r.completed_at, r.outcome, r.latency_ms, r.events_pending
            FROM unnest(CAST(:keys AS integer[]), CAST(:cids AS text[]),
                        CAST(:froms AS timestamptz[]), CAST(:tos AS timestamptz[])) AS s(key, cid, a, b)
            CROSS JOIN LATERAL (
                SELECT id, started_at, completed_at, outcome, latency_ms, events_pending FROM runs
                WHERE runs.connection_id = s.cid AND runs.completed_at >= s.a AND runs.completed_at < s.b
                ORDER BY runs.completed_at DESC, runs.started_at DESC, runs.id DESC
                LIMIT :n
            ) AS r
            """
        )
        rows = await session.execute(
            stmt,
            {
                "keys": [s.key for s in specs],
                "cids": [s.connection_id for s in specs],
                "froms": [s.a for s in specs],
                "tos": [s.b for s in specs],
                "n": n,
            },
        )
        for key, run_id, started, completed, outcome, latency, pending in rows:
            out[key].append((run_id, started, completed, outcome, latency, pending))
        return out

    for i in range(0, len(specs), SQLITE_COMPOUND_LIMIT):
        parts = []
        for s in specs[i : i + SQLITE_COMPOUND_LIMIT]:
            inner = (
                select(
                    literal(s.key, Integer).label("key"),
                    Run.id,
                    Run.started_at,
                    Run.completed_at,
                    Run.outcome,
                    Run.latency_ms,
                    Run.events_pending,
                )
                .where(Run.connection_id == s.connection_id, Run.completed_at >= s.a, Run.completed_at < s.b)
                .order_by(Run.completed_at.desc(), Run.started_at.desc(), Run.id.desc())
                .limit(n)
                .subquery()
            )
            parts.append(select(inner))
        for key, run_id, started, completed, outcome, latency, pending in await session.execute(
            union_all(*parts)
        ):
            out[key].append((run_id, _aware_str(started), _aware_str(completed), outcome, latency, pending))
    return out


def _aware_str(value: Any) -> datetime:
    result = as_utc(value)
    assert result is not None
    return result


async def failing_connections(
    session: AsyncSession, connection_ids: Sequence[str], a: datetime, b: datetime
) -> set[str]:
    """Connections with a partial or failed run completed in ``[a, b)`` (ix_runs_failing)."""
    if not connection_ids:
        return set()
    rows = await session.execute(
        select(Run.connection_id)
        .where(
            one_of(session, Run.connection_id, connection_ids),
            FAILING_COMPLETED,
            Run.completed_at >= a,
            Run.completed_at < b,
        )
        .group_by(Run.connection_id)
    )
    return {cid for (cid,) in rows}


async def last_delivery(
    session: AsyncSession, connection_ids: Sequence[str], before: datetime
) -> dict[str, datetime]:
    """Per connection, the latest ``completed_at`` before ``before`` of a run that delivered events.

    A correlated max() per connection: both databases answer it from the end of
    ix_runs_delivering, so the cost does not grow with history.
    """
    if not connection_ids:
        return {}
    d = Run.__table__.alias("d")
    latest = (
        select(func.max(d.c.completed_at))
        .where(
            d.c.connection_id == WarehouseConnection.id,
            text("d.events_delivered > 0"),
            d.c.completed_at < before,
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(WarehouseConnection.id, latest).where(one_of(session, WarehouseConnection.id, connection_ids))
    )
    return {cid: _aware_str(t) for cid, t in rows if t is not None}


async def connection_refs(
    session: AsyncSession,
    *,
    organisation_id: int | None,
    ids: Sequence[str] | None,
    tenant_ids: Sequence[int] | None,
) -> list[tuple[str, int, str, list[str]]]:
    """(id, organisation_id, name, event_types) of the connections matching the filters.

    ``organisation_id`` is the token's organisation (None for a platform token): nothing
    outside it is ever returned, so callers count only what the token may see.
    """
    c = WarehouseConnection
    query = select(c.id, c.organisation_id, c.name, c.event_types)
    if organisation_id is not None:
        query = query.where(c.organisation_id == organisation_id)
    if ids is not None:
        query = query.where(one_of(session, c.id, ids))
    if tenant_ids is not None:
        query = query.where(c.organisation_id.in_(tenant_ids))
    rows = await session.execute(query.order_by(c.id))
    return [(cid, org, name, list(types or [])) for cid, org, name, types in rows]


@dataclass(frozen=True)
class EdgeSums:
    """Completed runs of one connection in one raw interval, aggregated by the database."""

    sums: HourSums
    events_by_type: dict[str, int]


# PostgreSQL only: aggregating raw edges in the database instead of shipping every run
# (and its JSON breakdown) to Python. Latency matches run_latency_ms bit for bit: the exact
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
) -> dict[str, EdgeSums]:
    """Per connection, the completed runs with ``a <= completed_at < b`` summed (PostgreSQL)."""
    params = {"ids": list(connection_ids), "a": a, "b": b}
    typed: dict[str, dict[str, int]] = {}
    for cid, key, events in await session.execute(EDGE_TYPES_SQL, params):
        if events:
            typed.setdefault(cid, {})[key] = int(events)
    out = {}
    for row in await session.execute(EDGE_SUMS_SQL, params):
        cid = row[0]
        by_type = typed.get(cid, {})
        # Events reported without a breakdown are "other", as typed_events() counts them.
        rest = int(row[5] or 0) - sum(by_type.values())
        if rest > 0:
            by_type["other"] = by_type.get("other", 0) + rest
        out[cid] = EdgeSums(HourSums.of(row[1:9], row[9], row[10], row[11]), by_type)
    return out
