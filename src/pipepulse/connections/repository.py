"""SQL for warehouse connections."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pipepulse.db import notification_tallies
from pipepulse.db.dialect import one_of
from pipepulse.db.models import Notification, WarehouseConnection


@dataclass(frozen=True)
class ConnectionRef:
    """What the readers of runs need to know about a connection (no ORM object)."""

    id: str
    organisation_id: int
    name: str
    event_types: Sequence[str]

    @classmethod
    def of(cls, connection: WarehouseConnection) -> ConnectionRef:
        return cls(connection.id, connection.organisation_id, connection.name, list(connection.event_types))


@dataclass(frozen=True)
class ConnectionState:
    """A connection's id and state (connected, paused, …), read without an ORM object."""

    id: str
    state: str


_STATE = select(WarehouseConnection.state).where(
    WarehouseConnection.organisation_id == bindparam("organisation_id"),
    WarehouseConnection.id == bindparam("connection_id"),
)


async def state_of(
    connection: AsyncConnection, organisation_id: int, connection_id: str
) -> ConnectionState | None:
    """The organisation's connection by primary keys, on a plain connection (one column)."""
    state = (
        await connection.execute(_STATE, {"organisation_id": organisation_id, "connection_id": connection_id})
    ).scalar_one_or_none()
    return None if state is None else ConnectionState(connection_id, state)


_REF = select(WarehouseConnection.name, WarehouseConnection.event_types).where(
    WarehouseConnection.organisation_id == bindparam("organisation_id"),
    WarehouseConnection.id == bindparam("connection_id"),
)


async def ref_of(
    connection: AsyncConnection, organisation_id: int, connection_id: str
) -> ConnectionRef | None:
    """The organisation's connection by primary keys as a :class:`ConnectionRef`, on a plain
    connection (one row, no ORM object)."""
    row = (
        await connection.execute(_REF, {"organisation_id": organisation_id, "connection_id": connection_id})
    ).one_or_none()
    return None if row is None else ConnectionRef(connection_id, organisation_id, row[0], list(row[1] or []))


async def get(session: AsyncSession, organisation_id: int, connection_id: str) -> WarehouseConnection | None:
    return await session.scalar(
        select(WarehouseConnection).where(
            WarehouseConnection.id == connection_id,
            WarehouseConnection.organisation_id == organisation_id,
        )
    )


def lineage_key(namespace: str, name: str) -> str:
    """The unique per-organisation digest of an OpenLineage job (namespace, name)."""
    return hashlib.sha256(f"{namespace}\x00{name}".encode()).hexdigest()


async def by_lineage_key(session: AsyncSession, organisation_id: int, key: str) -> WarehouseConnection | None:
    return await session.scalar(
        select(WarehouseConnection).where(
            WarehouseConnection.organisation_id == organisation_id, WarehouseConnection.lineage_key == key
        )
    )


async def page(
    session: AsyncSession,
    organisation_id: int,
    *,
    offset: int,
    limit: int | None,
    state: str | None = None,
    integration_type: str | None = None,
) -> tuple[Sequence[WarehouseConnection], int]:
    query = select(WarehouseConnection).where(WarehouseConnection.organisation_id == organisation_id)
    if state is not None:
        query = query.where(WarehouseConnection.state == state)
    if integration_type is not None:
        query = query.where(WarehouseConnection.integration_type == integration_type)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(WarehouseConnection.created_at.desc(), WarehouseConnection.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return rows.all(), total


async def delete_one(session: AsyncSession, connection: WarehouseConnection) -> None:
    # Runs, rollups and its notifications go with it through ON DELETE CASCADE; what the
    # notifications counted stays (pipepulse_notifications_total never goes down).
    await notification_tallies.retire(session, Notification.connection_id == connection.id)
    await session.execute(delete(WarehouseConnection).where(WarehouseConnection.id == connection.id))


async def refs(
    session: AsyncSession,
    *,
    organisation_id: int | None,
    ids: Sequence[str] | None = None,
    tenant_ids: Sequence[int] | None = None,
) -> list[ConnectionRef]:
    """The connections matching the filters, by id.

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
    return [ConnectionRef(cid, org, name, list(types or [])) for cid, org, name, types in rows]


async def push_back_next_run(
    session: AsyncSession, connection_id: str, started_at: datetime, interval: int
) -> None:
    """A run a loader created itself also counts as the connection's last run (SPEC §2.1 "due")."""
    # Rounded up, as the scheduler does: never due before a whole interval has passed.
    next_epoch = math.ceil(started_at.timestamp()) + interval
    c = WarehouseConnection.__table__.c
    await session.execute(
        update(WarehouseConnection)
        .where(c.id == connection_id, or_(c.next_run_epoch.is_(None), c.next_run_epoch < next_epoch))
        .values(next_run_epoch=next_epoch)
        .execution_options(synchronize_session=False)
    )
