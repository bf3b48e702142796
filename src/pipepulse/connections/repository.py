"""SQL for warehouse connections."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import WarehouseConnection


async def get(session: AsyncSession, organisation_id: int, connection_id: str) -> WarehouseConnection | None:
    return await session.scalar(
        select(WarehouseConnection).where(
            WarehouseConnection.id == connection_id,
            WarehouseConnection.organisation_id == organisation_id,
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
    # Runs and rollups go with it through ON DELETE CASCADE.
    await session.execute(delete(WarehouseConnection).where(WarehouseConnection.id == connection.id))
