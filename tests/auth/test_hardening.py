"""Credentials under attack: failed authentications throttled per address, sign-out revoking the
session on the server, and /metrics showing tenant data only to a platform or metrics token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.dashboard import cookies as web_session
from pipepulse.db.models import ApiToken, DashboardSession
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant, iso

LIMIT = 3
ORGS = "/api/v1/organisations/"

Clients = Callable[[str], Any]


@pytest.fixture
def throttled_app(settings: Settings, db: Database, clock: FrozenClock) -> Any:
    return create_app(
        settings.model_copy(update={"auth_failures_per_minute": LIMIT}), clock=clock, database=db
    )


@pytest.fixture
def from_address(throttled_app: Any) -> Clients:
    """A client whose requests come from the given address (one app, so one throttle)."""

    @asynccontextmanager
    async def make(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=throttled_app, client=(address, 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://pipepulse.test", headers={"Origin": "http://pipepulse.test"}
        ) as client:
            yield client

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wrong(token: str) -> str:
    return token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")


async def test_throttle__too_many_wrong_tokens__429_with_retry_after_even_for_a_valid_token(
    from_address: Clients, tenant: Tenant, clock: FrozenClock
) -> None:
    async with from_address("203.0.113.7") as attacker:
        for _ in range(LIMIT):
            assert (await attacker.get(ORGS, headers=bearer(wrong(tenant.reader)))).status_code == 401
        blocked = await attacker.get(ORGS, headers=bearer(wrong(tenant.reader)))
        assert blocked.status_code == 429
        assert blocked.json()["detail"].startswith("too many failed authentications")
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        # A guess that happens to be right is not told apart while the address is throttled.
        assert (await attacker.get(ORGS, headers=tenant.read)).status_code == 429

        clock.advance(seconds=61)
        assert (await attacker.get(ORGS, headers=tenant.read)).status_code == 200


async def test_throttle__other_address__unaffected(from_address: Clients, tenant: Tenant) -> None:
    async with from_address("203.0.113.7") as attacker, from_address("198.51.100.1") as user:
        for _ in range(LIMIT + 2):
            await attacker.get(ORGS, headers=bearer(wrong(tenant.reader)))
        assert (await attacker.get(ORGS, headers=tenant.read)).status_code == 429
        assert (await user.get(ORGS, headers=tenant.read)).status_code == 200
        assert (await user.get(ORGS, headers=bearer(wrong(tenant.reader)))).status_code == 401


async def test_throttle__missing_credentials__never_counted(from_address: Clients, tenant: Tenant) -> None:
    async with from_address("203.0.113.8") as client:
        for _ in range(LIMIT * 3):
            assert (await client.get(ORGS)).status_code == 401
        assert (await client.get(ORGS, headers=tenant.read)).status_code == 200


async def test_throttle__revoked_token_and_service_key_guesses__counted(
    from_address: Clients, tenant: Tenant, db: Database, clock: FrozenClock, service_key: dict[str, str]
) -> None:
    async with db.session(write=True) as session:
        await session.execute(update(ApiToken).where(ApiToken.name == "r").values(revoked_at=clock.now))
    runs = tenant.connection_url("wc_x") + "metrics/"
    async with from_address("203.0.113.9") as client:
        assert (await client.get(ORGS, headers=tenant.read)).status_code == 401
        key = service_key["Authorization"].removeprefix("Bearer ")
        for _ in range(LIMIT - 1):
            guess = await client.post(runs, json={"started_at": iso(clock.now)}, headers=bearer(wrong(key)))
            assert guess.status_code == 401
        refused = await client.post(runs, json={"started_at": iso(clock.now)}, headers=service_key)
        assert refused.status_code == 429


async def test_throttle__dashboard_sign_in__same_limit_html_429(
    from_address: Clients, tenant: Tenant, clock: FrozenClock
) -> None:
    async with from_address("203.0.113.10") as browser:
        assert (await browser.post("/sign-in", data={"token": ""})).status_code == 400  # not counted
        for _ in range(LIMIT):
            response = await browser.post("/sign-in", data={"token": wrong(tenant.reader)})
            assert response.status_code == 401
        blocked = await browser.post("/sign-in", data={"token": tenant.reader})
        assert blocked.status_code == 429
        assert blocked.headers["content-type"].startswith("text/html")
        assert blocked.headers["retry-after"].isdigit()
        assert "Too many sign-in attempts" in blocked.text
        assert "set-cookie" not in blocked.headers
        # The API from the same address is throttled too: one count per address.
        assert (await browser.get(ORGS, headers=tenant.read)).status_code == 429
        clock.advance(seconds=61)
        assert (await browser.post("/sign-in", data={"token": tenant.reader})).status_code == 303


async def test_throttle__zero__turned_off(
    settings: Settings, db: Database, clock: FrozenClock, tenant: Tenant
) -> None:
    app = create_app(settings.model_copy(update={"auth_failures_per_minute": 0}), clock=clock, database=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={"Origin": "http://t"}
    ) as client:
        for _ in range(30):
            assert (await client.get(ORGS, headers=bearer(wrong(tenant.reader)))).status_code == 401


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/sign-in", data={"token": token})


async def test_sign_out__old_cookie_replayed__signed_out_for_good(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    assert (await sign_in(client, tenant.reader)).status_code == 303
    stolen = client.cookies[web_session.COOKIE_NAME]
    assert (await client.get(f"/orgs/{tenant.id}/")).status_code == 200

    assert (await client.post("/sign-out")).status_code == 303

    client.cookies.set(web_session.COOKIE_NAME, stolen)
    replayed = await client.get(f"/orgs/{tenant.id}/")
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/?next=")
    async with db.session() as session:
        [revoked_at] = (await session.scalars(select(DashboardSession.revoked_at))).all()
    assert revoked_at is not None


async def test_sign_out__one_browser__others_stay_signed_in(app: Any, tenant: Tenant) -> None:
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t", headers={"Origin": "http://t"}) as laptop,
        httpx.AsyncClient(transport=transport, base_url="http://t", headers={"Origin": "http://t"}) as phone,
    ):
        await sign_in(laptop, tenant.reader)
        await sign_in(phone, tenant.reader)
        await laptop.post("/sign-out")
        assert (await laptop.get(f"/orgs/{tenant.id}/")).status_code == 303
        assert (await phone.get(f"/orgs/{tenant.id}/")).status_code == 200


async def test_session__twelve_hours_later__expired_on_the_server(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    await sign_in(client, tenant.reader)
    clock.advance(hours=12, seconds=1)
    assert (await client.get(f"/orgs/{tenant.id}/")).status_code == 303


async def test_sign_in__again__expired_and_revoked_sessions_of_the_token_cleared(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, clock: FrozenClock
) -> None:
    await sign_in(client, tenant.reader)
    await client.post("/sign-out")
    clock.advance(minutes=1)
    await sign_in(client, tenant.reader)
    async with db.session() as session:
        live = (await session.scalars(select(DashboardSession.revoked_at))).all()
    assert live == [None]


# /metrics


async def connection_with_a_run(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> str:
    created = await client.post(
        tenant.connections_url(), json={"name": "Secret Project", "type": "duckdb"}, headers=tenant.write
    )
    run = {"started_at": iso(clock.now - timedelta(minutes=3)), "completed_at": iso(clock.now)}
    await client.post(tenant.connection_url(created.json()["id"]) + "metrics/", json=run, headers=service_key)
    connection_id: str = created.json()["id"]
    return connection_id


async def platform_token(db: Database, clock: FrozenClock) -> str:
    async with db.session(write=True) as session:
        issued = await auth_service.create_token(
            session, organisation_id=None, scopes=[scopes.READ_PIPELINE_METRICS], name="p", now=clock.now
        )
    return issued.token


async def test_metrics__no_credentials__process_metrics_only(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    connection_id = await connection_with_a_run(client, tenant, service_key, clock)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "pipepulse_http_requests_total" in response.text
    assert "pipepulse_connection_" not in response.text
    assert connection_id not in response.text
    assert "Secret Project" not in response.text


async def test_metrics__organisation_token_or_service_key__process_metrics_only(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    await connection_with_a_run(client, tenant, service_key, clock)
    for headers in (tenant.read, service_key):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 200
        assert "pipepulse_connection_" not in response.text


async def test_metrics__platform_token__connection_series(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    connection_id = await connection_with_a_run(client, tenant, service_key, clock)
    response = await client.get("/metrics", headers=bearer(await platform_token(db, clock)))
    assert f'connection_id="{connection_id}"' in response.text


async def test_metrics__metrics_token__connection_series_wrong_one_401(
    settings: Settings, db: Database, clock: FrozenClock, tenant: Tenant, service_key: dict[str, str]
) -> None:
    app = create_app(
        settings.model_copy(update={"metrics_token": "scrape-secret-1"}), clock=clock, database=db
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={"Origin": "http://t"}
    ) as client:
        connection_id = await connection_with_a_run(client, tenant, service_key, clock)
        good = await client.get("/metrics", headers=bearer("scrape-secret-1"))
        assert f'connection_id="{connection_id}"' in good.text
        bad = await client.get("/metrics", headers=bearer("scrape-secret-2"))
        assert bad.status_code == 401
        assert bad.headers["www-authenticate"] == "Bearer"
        assert "scrape-secret" not in bad.text
