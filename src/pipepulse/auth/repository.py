"""SQL for user tokens and service keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import ApiToken, ServiceKey


async def add(session: AsyncSession, row: ApiToken | ServiceKey) -> None:
    session.add(row)
    await session.flush()


# Plain column reads on the session's connection: these run on every request.
async def token_secret(session: AsyncSession, token_id: str) -> Any:
    """The token's hash, revocation, organisation and scopes, or None."""
    t = ApiToken.__table__.c
    connection = await session.connection()
    return (
        await connection.execute(
            select(t.secret_hash, t.revoked_at, t.organisation_id, t.scopes).where(t.id == token_id)
        )
    ).first()


async def service_key_secret(session: AsyncSession, key_id: str) -> Any:
    """The key's hash, revocation, name, organisation and auto-create flag, or None."""
    k = ServiceKey.__table__.c
    connection = await session.connection()
    return (
        await connection.execute(
            select(k.secret_hash, k.revoked_at, k.name, k.organisation_id, k.auto_create_connections).where(
                k.id == key_id
            )
        )
    ).first()


async def get_token(session: AsyncSession, token_id: str) -> ApiToken | None:
    return await session.get(ApiToken, token_id)


async def get_service_key(session: AsyncSession, key_id: str) -> ServiceKey | None:
    return await session.get(ServiceKey, key_id)


async def tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.scalars(select(ApiToken).order_by(ApiToken.created_at))).all())


async def service_keys(session: AsyncSession) -> list[ServiceKey]:
    return list((await session.scalars(select(ServiceKey).order_by(ServiceKey.created_at))).all())
