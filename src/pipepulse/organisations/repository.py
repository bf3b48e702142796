"""SQL for organisations."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import Organisation


async def add(session: AsyncSession, org: Organisation) -> None:
    """Insert in a savepoint, so a duplicate slug (IntegrityError) leaves the transaction usable."""
    async with session.begin_nested():
        session.add(org)
        await session.flush()


async def by_slug(session: AsyncSession, slug: str) -> Organisation | None:
    return await session.scalar(select(Organisation).where(Organisation.slug == slug))


async def get(session: AsyncSession, organisation_id: int) -> Organisation | None:
    return await session.get(Organisation, organisation_id)


async def page(
    session: AsyncSession, *, only: int | None, offset: int, limit: int
) -> tuple[Sequence[Organisation], int]:
    """Organisations by id (just ``only`` when given) and how many there are."""
    query = select(Organisation)
    if only is not None:
        query = query.where(Organisation.id == only)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = (await session.scalars(query.order_by(Organisation.id).offset(offset).limit(limit))).all()
    return rows, total
