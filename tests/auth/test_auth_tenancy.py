"""SPEC §4.1: 401 without a token, 403 for the wrong kind or scope, 404 across tenants."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from pipepulse.auth import service as auth_service
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant, iso


@pytest.fixture
async def foreign(
    client: httpx.AsyncClient, other_tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> dict[str, Any]:
    """A connection with one run that belongs to the other organisation."""
    created = await client.post(
        other_tenant.connections_url(),
        json={"name": "theirs", "type": "redshift"},
        headers=other_tenant.write,
    )
    connection = created.json()
    runs_url = other_tenant.connection_url(connection["id"]) + "metrics/"
    await client.post(
        runs_url,
        json={"run_id": "their-run", "started_at": iso(clock.now - timedelta(minutes=1))},
        headers=service_key,
    )
    return {"org": other_tenant.id, "conn": connection["id"], "run": "their-run"}


def read_endpoints(org: int, conn: str, run: str) -> list[str]:
    base = f"/api/v1/organisations/{org}"
    c = f"{base}/integrations/warehouse-connections/{conn}"
    return [
        f"{base}/",
        f"{base}/integrations/warehouse-connections/",
        f"{c}/",
        f"{c}/telemetry/",
        f"{c}/status-history/",
        f"{c}/health/",
        f"{c}/metrics/",
        f"{c}/metrics/{run}/",
    ]


async def test_tenancy__every_read_endpoint_with_foreign_ids__404(
    client: httpx.AsyncClient, tenant: Tenant, foreign: dict[str, Any]
) -> None:
    for path in read_endpoints(foreign["org"], foreign["conn"], foreign["run"]):
        response = await client.get(path, headers=tenant.read)
        assert response.status_code == 404, path
        # Exactly as if it did not exist:
        missing = await client.get(path.replace(foreign["conn"], "wc_doesnotexist"), headers=tenant.read)
        if foreign["conn"] in path:
            assert missing.status_code == 404
            assert missing.json() == response.json()


async def test_tenancy__own_org_path_with_foreign_connection__404(
    client: httpx.AsyncClient, tenant: Tenant, foreign: dict[str, Any]
) -> None:
    for path in read_endpoints(tenant.id, foreign["conn"], foreign["run"])[2:]:
        assert (await client.get(path, headers=tenant.read)).status_code == 404, path


async def test_tenancy__writes_to_foreign_connection__404_and_unchanged(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, foreign: dict[str, Any]
) -> None:
    url = other_tenant.connection_url(foreign["conn"])
    assert (await client.patch(url, json={"name": "mine now"}, headers=tenant.write)).status_code == 404
    assert (await client.delete(url, headers=tenant.write)).status_code == 404
    create = await client.post(
        other_tenant.connections_url(), json={"name": "x", "type": "duckdb"}, headers=tenant.write
    )
    assert create.status_code == 404
    theirs = await client.get(url, headers=other_tenant.read)
    assert theirs.status_code == 200
    assert theirs.json()["name"] == "theirs"


async def test_tenancy__organisation_list__only_own(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    body = (await client.get("/api/v1/organisations/", headers=tenant.read)).json()
    assert [o["slug"] for o in body["items"]] == ["acme"]
    assert body["total"] == 1


async def test_platform_token__foreign_organisation__every_read_200(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, foreign: dict[str, Any], clock: FrozenClock
) -> None:
    async with db.session(write=True) as session:
        issued = await auth_service.create_token(
            session, organisation_id=None, scopes=["read:pipeline_metrics"], name="platform", now=clock.now
        )
    headers = {"Authorization": f"Bearer {issued.token}"}
    orgs = (await client.get("/api/v1/organisations/", headers=headers)).json()
    assert [o["slug"] for o in orgs["items"]] == ["acme", "globex"]
    for path in read_endpoints(foreign["org"], foreign["conn"], foreign["run"]):
        assert (await client.get(path, headers=headers)).status_code == 200, path


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer ppt_nonsense", "Bearer ppt_0123456789ab_wrongsecret"],
)
async def test_auth__missing_or_invalid_token__401_with_www_authenticate(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any], header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get(tenant.connection_url(connection["id"]) + "telemetry/", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


async def test_auth__tampered_secret_of_real_token__401(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]
) -> None:
    tampered = tenant.reader[:-1] + ("A" if tenant.reader[-1] != "A" else "B")
    response = await client.get(
        tenant.connection_url(connection["id"]) + "telemetry/",
        headers={"Authorization": f"Bearer {tampered}"},
    )
    assert response.status_code == 401


async def test_auth__read_token_without_write_scope__403_on_writes(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]
) -> None:
    url = tenant.connection_url(connection["id"])
    assert (await client.patch(url, json={"name": "n"}, headers=tenant.read)).status_code == 403
    assert (await client.delete(url, headers=tenant.read)).status_code == 403
    response = await client.post(
        tenant.connections_url(), json={"name": "n", "type": "duckdb"}, headers=tenant.read
    )
    assert response.status_code == 403
    assert "write:connections" in response.json()["detail"]


async def test_auth__write_only_token__403_on_reads(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, connection: dict[str, Any], clock: FrozenClock
) -> None:
    async with db.session(write=True) as session:
        issued = await auth_service.create_token(
            session, organisation_id=tenant.id, scopes=["write:connections"], name="w", now=clock.now
        )
    response = await client.get(
        tenant.connection_url(connection["id"]) + "telemetry/",
        headers={"Authorization": f"Bearer {issued.token}"},
    )
    assert response.status_code == 403
    assert "read:pipeline_metrics" in response.json()["detail"]


async def test_auth__service_key_on_user_endpoints__403(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any], service_key: dict[str, str]
) -> None:
    for path in read_endpoints(tenant.id, connection["id"], "r")[:5]:
        response = await client.get(path, headers=service_key)
        assert response.status_code == 403, path
        assert "service key" in response.json()["detail"]
