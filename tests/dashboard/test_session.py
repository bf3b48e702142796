"""Signing in and out of the dashboard, and what the session cookie allows."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import update

from pipepulse.config import Settings
from pipepulse.dashboard import cookies as web_session
from pipepulse.db.models import ApiToken
from pipepulse.db.session import Database
from tests.conftest import SITE, FrozenClock, Tenant
from tests.dashboard.conftest import sign_in


async def test_sign_in_form__anonymous__shows_the_form(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'name="token"' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_sign_in__reader_token__sets_a_strict_httponly_cookie_without_the_secret(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await sign_in(client, tenant.reader)

    assert response.status_code == 303
    assert response.headers["location"] == f"/orgs/{tenant.id}/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{web_session.COOKIE_NAME}=")
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/" in flags
    secret = tenant.reader.split("_", 2)[2]
    assert secret not in cookie


async def test_sign_in__wrong_token__message_on_the_form(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await sign_in(client, tenant.reader[:-3] + "xyz")

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "That token was not accepted" in response.text
    assert 'name="token"' in response.text
    assert "set-cookie" not in response.headers


async def test_sign_in__garbage_and_empty__message_on_the_form(client: httpx.AsyncClient) -> None:
    garbage = await sign_in(client, "hello")
    empty = await sign_in(client, "   ")

    assert garbage.status_code == 401
    assert "That token was not accepted" in garbage.text
    assert empty.status_code == 400
    assert "Paste an API token" in empty.text


async def test_sign_in__service_key__refused_with_a_message(
    client: httpx.AsyncClient, service_key: dict[str, str]
) -> None:
    response = await sign_in(client, service_key["Authorization"].removeprefix("Bearer "))

    assert response.status_code == 403
    assert "service key" in response.text
    assert "set-cookie" not in response.headers


async def test_sign_in__token_without_read_scope__refused(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, clock: FrozenClock
) -> None:
    from pipepulse.auth import service as auth_service

    async with db.session(write=True) as session:
        issued = await auth_service.create_token(
            session, organisation_id=tenant.id, scopes=["write:connections"], name="w", now=clock.now
        )
    response = await sign_in(client, issued.token)

    assert response.status_code == 403
    assert "read:pipeline_metrics" in response.text


async def test_pages__not_signed_in__redirect_to_sign_in_and_back(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    page = f"/orgs/{tenant.id}/?status=error"
    response = await client.get(page)
    assert response.status_code == 303
    assert response.headers["location"] == "/?next=" + quote(page, safe="")

    signed = await sign_in(client, tenant.reader, next_path=page)
    assert signed.headers["location"] == page


async def test_sign_in__next_pointing_elsewhere__ignored(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = await sign_in(client, tenant.reader, next_path=target)
        assert response.headers["location"] == f"/orgs/{tenant.id}/"


async def test_sign_in__cross_site_post__refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/sign-in", data={"token": tenant.reader}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


async def _post_sign_in(client: httpx.AsyncClient, token: str, headers: dict[str, str]) -> httpx.Response:
    """POST /sign-in with exactly these Origin/Referer headers (the client's own Origin removed)."""
    request = client.build_request("POST", "/sign-in", data={"token": token})
    del request.headers["origin"]
    request.headers.update(headers)
    return await client.send(request)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://pipepulse.test"},  # same host, other scheme
        {"Origin": "http://pipepulse.test:8080"},  # same host, other port
        {"Origin": "http://pipepulse.test.evil.example"},
        {"Origin": "null"},
        {},  # neither Origin nor Referer
        {"Referer": "https://pipepulse.test/"},  # a Referer from the other scheme
        {"Referer": "http://evil.example/pipepulse.test/"},
    ],
    ids=["scheme", "port", "host", "null", "neither", "referer-scheme", "referer-host"],
)
async def test_sign_in__not_from_this_origin__refused(
    client: httpx.AsyncClient, tenant: Tenant, headers: dict[str, str]
) -> None:
    response = await _post_sign_in(client, tenant.reader, headers)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://pipepulse.test"},
        {"Origin": "http://PipePulse.test:80"},  # the default port, spelled out
        {"Referer": "http://pipepulse.test/?next=/orgs/"},  # no Origin: a same-site Referer
    ],
    ids=["origin", "default-port", "referer"],
)
async def test_sign_in__from_this_origin__accepted(
    client: httpx.AsyncClient, tenant: Tenant, headers: dict[str, str]
) -> None:
    response = await _post_sign_in(client, tenant.reader, headers)
    assert response.status_code == 303
    assert "set-cookie" in response.headers


async def test_sign_out__clears_the_cookie__pages_need_sign_in_again(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await sign_in(client, tenant.reader)
    assert (await client.get(f"/orgs/{tenant.id}/")).status_code == 200

    response = await client.post("/sign-out")

    assert response.status_code == 303
    assert response.headers["location"] == "/?signed_out=true"
    assert web_session.COOKIE_NAME not in client.cookies
    assert (await client.get(f"/orgs/{tenant.id}/")).status_code == 303
    assert "You have signed out" in (await client.get("/?signed_out=true")).text


async def test_session__token_revoked__next_request_is_signed_out(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, clock: FrozenClock
) -> None:
    await sign_in(client, tenant.reader)
    async with db.session(write=True) as session:
        await session.execute(update(ApiToken).values(revoked_at=clock.now))

    response = await client.get(f"/orgs/{tenant.id}/")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/?next=")


async def test_session__tampered_cookie__signed_out(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await sign_in(client, tenant.reader)
    value = client.cookies[web_session.COOKIE_NAME]
    client.cookies.set(web_session.COOKIE_NAME, value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1])

    assert (await client.get(f"/orgs/{tenant.id}/")).status_code == 303


async def test_sign_in_form__already_signed_in__goes_to_the_dashboard(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await sign_in(client, tenant.reader)
    response = await client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == f"/orgs/{tenant.id}/"


def test_secret_key__not_configured__generated_once_with_owner_only_permissions(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_key="")

    first = web_session.secret_key(settings)
    second = web_session.secret_key(settings)

    path = tmp_path / "data" / web_session.SECRET_KEY_FILE
    assert first == second
    assert len(first) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_secret_key__configured__used_as_is(tmp_path: Path) -> None:
    assert web_session.secret_key(Settings(data_dir=tmp_path, secret_key="s3cret")) == "s3cret"
    assert not (tmp_path / web_session.SECRET_KEY_FILE).exists()


async def test_sign_in__database_down__html_page_503_with_retry_after(tmp_path: Path) -> None:
    from pipepulse.app import create_app
    from pipepulse.db.engine import create_engine

    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:1/nowhere", secret_key="k", data_dir=tmp_path
    )
    db = Database(create_engine(settings.resolved_database_url))
    transport = httpx.ASGITransport(app=create_app(settings, database=db), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=SITE, headers={"Origin": SITE}) as client:
        response = await sign_in(client, "ppt_0123456789ab_secret")
    await db.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["retry-after"].isdigit()
    assert "database is unavailable" in response.text
    assert "Traceback" not in response.text
