"""SQL of the evaluation pass: what it reads in bulk, and how it writes a change exactly once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.connections.repository import ConnectionRef
from pipepulse.db import dialect
from pipepulse.db.models import (
    AlertChannel,
    AlertEvent,
    AlertRule,
    ConnectionEvaluation,
    Notification,
    Organisation,
    WarehouseConnection,
)
from pipepulse.watch.alerts.changes import STATUS_CHANGED, RuleView, Seen

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


async def organisation_slugs(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Organisation.id, Organisation.slug).where(Organisation.id.in_(ids)))
    return {row.id: row.slug for row in rows}


async def rules_by_organisation(session: AsyncSession, ids: set[int]) -> dict[int, list[RuleView]]:
    """The rules of these organisations whose channel is enabled."""
    if not ids:
        return {}
    r, c = AlertRule, AlertChannel
    rows = await session.execute(
        select(r.organisation_id, r.id, r.channel_id, r.events, r.connection_ids, r.min_duration_seconds)
        .join(c, c.id == r.channel_id)
        # Grouped rules (SPEC §7.4) notify per group: see groups_service.
        .where(r.organisation_id.in_(ids), c.enabled.is_(True), r.group_by.is_(None))
        .order_by(r.created_at, r.id)
    )
    out: dict[int, list[RuleView]] = defaultdict(list)
    for org_id, rule_id, channel_id, events, connection_ids, hold in rows:
        out[org_id].append(RuleView(rule_id, channel_id, list(events), connection_ids, hold))
    return out


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


async def add_notifications(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(Notification), list(rows))


async def cancel_held(session: AsyncSession, changed_at: dict[str, datetime]) -> int:
    """Status notifications still held back when their connection's status changed again (at
    ``changed_at[connection]``) are never sent."""
    n = Notification
    held: list[str] = []
    for chunk in dialect.chunks(session, sorted(changed_at)):
        rows = await session.execute(
            select(n.id, n.connection_id, n.hold_until).where(
                dialect.one_of(session, n.connection_id, chunk),
                n.type == STATUS_CHANGED,
                n.state == "pending",
                n.attempts == 0,
                n.hold_until.is_not(None),
            )
        )
        held += [
            nid
            for nid, cid, until in rows
            if cid is not None and (at := dialect.as_utc(until)) is not None and at > changed_at[cid]
        ]
    for chunk in dialect.chunks(session, held):
        await session.execute(
            update(n)
            .where(dialect.one_of(session, n.id, chunk), n.state == "pending", n.attempts == 0)
            .values(
                state="cancelled",
                next_attempt_at=None,
                last_error="held back, and the status changed again before min_duration_seconds had passed",
            )
            .execution_options(synchronize_session=False)
        )
    return len(held)


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
