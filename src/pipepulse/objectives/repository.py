"""The SQL of objectives (SPEC §7.6)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import MaintenanceWindow, Objective


async def of_connection(session: AsyncSession, organisation_id: int, connection_id: str) -> list[Objective]:
    o = Objective
    query = select(o).where(o.organisation_id == organisation_id, o.connection_id == connection_id)
    return list((await session.execute(query.order_by(o.created_at, o.id))).scalars())


async def of_organisation(session: AsyncSession, organisation_id: int) -> list[Objective]:
    """The organisation's defaults (not the objectives of its connections)."""
    o = Objective
    query = select(o).where(o.organisation_id == organisation_id, o.connection_id.is_(None))
    return list((await session.execute(query.order_by(o.created_at, o.id))).scalars())


async def count(session: AsyncSession, organisation_id: int, connection_id: str | None) -> int:
    o = Objective
    owner = o.connection_id.is_(None) if connection_id is None else o.connection_id == connection_id
    found = await session.scalar(
        select(func.count()).select_from(o).where(o.organisation_id == organisation_id, owner)
    )
    return int(found or 0)


async def get(session: AsyncSession, organisation_id: int, objective_id: str) -> Objective | None:
    found = await session.get(Objective, objective_id)
    return found if found is not None and found.organisation_id == organisation_id else None


async def maintenance_windows(session: AsyncSession, organisation_id: int) -> list[MaintenanceWindow]:
    """The organisation's windows and the platform's (which belong to no organisation)."""
    w = MaintenanceWindow
    query = select(w).where((w.organisation_id == organisation_id) | w.organisation_id.is_(None))
    return list((await session.execute(query.order_by(w.id))).scalars())
