"""Verified credentials are remembered for PIPEPULSE_AUTH_CACHE_SECONDS: a revoked one stops within that."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from pipepulse.auth import tokens
from pipepulse.config import Settings
from pipepulse.db.models import ApiToken, ServiceKey
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant


async def revoke_everything(db: Database, clock: FrozenClock) -> None:
    """As another process would (the CLI): straight in the database."""
    async with db.session(write=True) as session:
        await session.execute(update(ServiceKey).values(revoked_at=clock.now))
        await session.execute(update(ApiToken).values(revoked_at=clock.now))


async def test_auth_cache__revoked_service_key__refused_once_the_bound_has_passed(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    body = {"started_at": (clock.now - timedelta(minutes=1)).isoformat()}
    assert (await client.post(runs_url, json=body, headers=service_key)).status_code == 201
    await revoke_everything(db, clock)
    bound = timedelta(seconds=settings.auth_cache_seconds)
    assert bound == timedelta(seconds=5)
    # Within the bound the key verified a moment ago may still be accepted; past it, never.
    clock.advance(seconds=bound.total_seconds())
    response = await client.post(runs_url, json=body, headers=service_key)
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid or revoked service key"


async def test_auth_cache__revoked_user_token__refused_once_the_bound_has_passed(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: Tenant,
    connection: dict[str, Any],
    clock: FrozenClock,
) -> None:
    url = tenant.connection_url(connection["id"]) + "telemetry/"
    assert (await client.get(url, headers=tenant.read)).status_code == 200
    await revoke_everything(db, clock)
    assert (await client.get(url, headers=tenant.read)).status_code == 200  # remembered, within the bound
    clock.advance(seconds=settings.auth_cache_seconds)
    assert (await client.get(url, headers=tenant.read)).status_code == 401


async def test_auth_cache__revoked_before_first_use__refused_at_once(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, connection: dict[str, Any], clock: FrozenClock
) -> None:
    await revoke_everything(db, clock)
    response = await client.get(tenant.connection_url(connection["id"]) + "telemetry/", headers=tenant.read)
    assert response.status_code == 401


async def test_auth_cache__remembered_id_with_a_wrong_secret__refused(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]
) -> None:
    url = tenant.connection_url(connection["id"]) + "telemetry/"
    assert (await client.get(url, headers=tenant.read)).status_code == 200
    parsed = tokens.parse(tenant.reader)
    assert parsed is not None
    forged = f"{tokens.PREFIXES['user']}{parsed.id}_{'x' * len(parsed.secret)}"
    response = await client.get(url, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
