"""SQL of the evaluation pass: what it reads in bulk, and how it writes a change exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts.changes import Seen
from pipepulse.connections.repository import ConnectionRef
from pipepulse.db import dialect
from pipepulse.db.models import (
    AlertEvent,
    ConnectionEvaluation,
    WarehouseConnection,
)

# Rows per multi-row INSERT.
CHUNK = 500


@dataclass(frozen=True)
class Watched:
    """A connection as the evaluation reads it."""

    ref: ConnectionRef
    type: str
    state: str
    schedule_interval_seconds: int
    freshness_sla_seconds: int | None
    created_at: datetime


@dataclass(frozen=True)
class Stored:
    """What the last evaluation recorded for a connection."""

    seen: Seen
    status_since: datetime | None
    volume_hour: datetime | None
    version: int


async def watched(session: AsyncSession, ids: Sequence[str] | None = None) -> list[Watched]:
    """Every connection that is not paused (SPEC §7.3 evaluates only those), or those of ``ids``."""
    c = WarehouseConnection
    query = select(
        c.id,
        c.organisation_id,
        c.name,
        c.event_types,
        c.type,
        c.state,
        c.schedule_interval_seconds,
        c.freshness_sla_seconds,
        c.created_at,
    ).where(c.state != "paused")
    rows: Sequence[Any] = (
        (await session.execute(query)).all()
        if ids is None
        else [
            row
            for chunk in dialect.chunks(session, ids)
            for row in await session.execute(query.where(dialect.one_of(session, c.id, chunk)))
        ]
    )
    return [
        Watched(
            ref=ConnectionRef(row.id, row.organisation_id, row.name, list(row.event_types or [])),
            type=row.type,
            state=row.state,
            schedule_interval_seconds=row.schedule_interval_seconds,
            freshness_sla_seconds=row.freshness_sla_seconds,
            created_at=row.created_at,
        )
        for row in rows
    ]


async def stored(session: AsyncSession, ids: Sequence[str] | None = None) -> dict[str, Stored]:
    """Every stored evaluation (one read of a table with one row per connection), or those of ``ids``."""
    e = ConnectionEvaluation
    query = select(
        e.connection_id, e.status, e.late, e.volume_verdict, e.status_since, e.volume_hour, e.version
    )
    rows: Sequence[Any] = (
        (await session.execute(query)).all()
        if ids is None
        else [
            row
            for chunk in dialect.chunks(session, ids)
            for row in await session.execute(query.where(dialect.one_of(session, e.connection_id, chunk)))
        ]
    )
    return {
        cid: Stored(Seen(status, bool(late), verdict), since, hour, version)
        for cid, status, late, verdict, since, hour, version in rows
    }


async def _insert_new(
    session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]], unique: list[str], returning: Any
) -> set[Any]:
    """Insert the rows no replica has inserted (by the ``unique`` columns), in multi-row
    statements; returns ``returning`` of those this call inserted."""
    if not rows:
        return set()
    stmt = dialect.insert(dialect.name_of(session), model).on_conflict_do_nothing(index_elements=unique)
    inserted: set[Any] = set()
    for start in range(0, len(rows), CHUNK):
        result = await session.execute(stmt.values(rows[start : start + CHUNK]).returning(returning))
        inserted.update(result.scalars().all())
    return inserted


async def insert_first(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """First evaluations: insert each connection's row unless a replica did; returns those inserted."""
    e = ConnectionEvaluation
    return await _insert_new(session, e, rows, ["connection_id"], e.connection_id)


async def claim_changes(
    session: AsyncSession, changes: Sequence[tuple[str, int, dict[str, Any]]]
) -> set[str]:
    """Write each change only where its row is still the version that was read (compare and set),
    for all changes at once; returns the connections whose change this pass owns.

    The rows are locked first, in one order for every replica (PostgreSQL's ``FOR UPDATE``;
    SQLite's write transaction already holds the database), so a version read here cannot move
    before the write: a replica that waited sees the other's new version and owns nothing.
    """
    e = ConnectionEvaluation
    wanted = {cid: (version, values) for cid, version, values in changes}
    owned: list[str] = []
    for chunk in dialect.chunks(session, sorted(wanted)):
        rows = await session.execute(
            select(e.connection_id, e.version)
            .where(dialect.one_of(session, e.connection_id, chunk))
            .order_by(e.connection_id)
            .with_for_update()
        )
        owned += [cid for cid, version in rows if version == wanted[cid][0]]
    if owned:
        await session.execute(
            update(e),
            [{**wanted[cid][1], "connection_id": cid, "version": wanted[cid][0] + 1} for cid in owned],
        )
    return set(owned)


async def record_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert events unless one with the same (connection, type, key) exists; returns the ids
    of those inserted."""
    return await _insert_new(session, AlertEvent, rows, ["connection_id", "type", "key"], AlertEvent.id)


async def advance_volume_hour(session: AsyncSession, ids: Sequence[str], hour: datetime) -> None:
    """Mark ``hour`` judged for connections whose verdict did not change (no event, no version)."""
    e = ConnectionEvaluation
    for chunk in dialect.chunks(session, ids):
        await session.execute(
            update(e)
            .where(
                dialect.one_of(session, e.connection_id, chunk),
                or_(e.volume_hour.is_(None), e.volume_hour < hour),
            )
            .values(volume_hour=hour)
            .execution_options(synchronize_session=False)
        )
