"""Bulk metrics: only visible connections, sorting, status filter, cursors, platform tokens."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant
from tests.helpers import make_connection, push


async def test_bulk__ids_of_other_organisations__only_visible_connections_counted(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = await make_connection(client, tenant, "mine")
    theirs = await make_connection(client, other_tenant, "theirs")
    response = await client.get(
        f"/api/v1/telemetry/metrics/?ids={mine['id']},{theirs['id']}&tenant_ids={tenant.id},{other_tenant.id}",
        headers=tenant.read,
    )
    body = response.json()
    assert body["total"] == 1
    assert [r["id"] for r in body["result"]] == [mine["id"]]
    assert body["result"][0]["organisation_id"] == tenant.id
    assert body["result"][0]["name"] == "mine"


async def test_bulk__post_body_and_query__body_wins(client: httpx.AsyncClient, tenant: Tenant) -> None:
    a = await make_connection(client, tenant, "a")
    b = await make_connection(client, tenant, "b")
    response = await client.post(
        f"/api/v1/telemetry/metrics/?ids={a['id']}", json={"ids": [b["id"]]}, headers=tenant.read
    )
    assert [r["id"] for r in response.json()["result"]] == [b["id"]]
    response = await client.post(
        "/api/v1/telemetry/metrics/", json={"ids": f"{a['id']},{b['id']}"}, headers=tenant.read
    )
    assert response.json()["total"] == 2


async def test_bulk__sort_filter_and_cursor__pages_in_order(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    conns = [await make_connection(client, tenant, f"c{i}") for i in range(5)]
    t = clock.now - timedelta(hours=1)
    for i, conn in enumerate(conns):
        await push(
            client, tenant, conn["id"], service_key, started_at=t, completed_at=t, events_delivered=i * 10
        )
    await push(client, tenant, conns[0]["id"], service_key, started_at=t, completed_at=t, error="x")
    url = "/api/v1/telemetry/metrics/?sort=events_delivered&sort_dir=desc&size=2"
    first = (await client.get(url, headers=tenant.read)).json()
    assert [r["name"] for r in first["result"]] == ["c4", "c3"]
    assert (first["total"], first["has_next"], first["page"]) == (5, True, 1)
    second = (await client.get(url + f"&from={first['next_cursor']}", headers=tenant.read)).json()
    assert [r["name"] for r in second["result"]] == ["c2", "c1"]
    last = (await client.get(url + f"&from={second['next_cursor']}", headers=tenant.read)).json()
    assert ([r["name"] for r in last["result"]], last["has_next"], last["next_cursor"]) == (
        ["c0"],
        False,
        None,
    )
    paged = (await client.get(url + "&page=3", headers=tenant.read)).json()
    assert [r["name"] for r in paged["result"]] == ["c0"]

    degraded = (await client.get("/api/v1/telemetry/metrics/?status=degraded", headers=tenant.read)).json()
    assert [r["name"] for r in degraded["result"]] == ["c0"]
    by_status = (
        await client.get("/api/v1/telemetry/metrics/?sort=status&sort_dir=desc", headers=tenant.read)
    ).json()
    assert by_status["result"][0]["data"]["status"] == "degraded"

    bad = await client.get(url + "&from=not-a-cursor", headers=tenant.read)
    assert bad.status_code == 422
    other_query = await client.get(
        "/api/v1/telemetry/metrics/?sort=name" + f"&from={first['next_cursor']}", headers=tenant.read
    )
    assert other_query.status_code == 422


@pytest.mark.parametrize(
    "query",
    ["size=501", "size=0", "sort=events_by_type", "sort_dir=up", "status=great", "tenant_ids=abc",
     "ids=bad%20id", "time_type=timeseries", "page=0"],
)  # fmt: skip
async def test_bulk__bad_parameters__422(client: httpx.AsyncClient, tenant: Tenant, query: str) -> None:
    response = await client.get(f"/api/v1/telemetry/metrics/?{query}", headers=tenant.read)
    assert response.status_code == 422, response.text


async def test_bulk__platform_token__sees_every_organisation(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database, clock: FrozenClock
) -> None:
    await make_connection(client, tenant, "a")
    await make_connection(client, other_tenant, "b")
    async with db.session(write=True) as session:
        issued = await auth_service.create_token(
            session, organisation_id=None, scopes=[scopes.READ_PIPELINE_METRICS], name="p", now=clock.now
        )
    headers = {"Authorization": f"Bearer {issued.token}"}
    body = (await client.get("/api/v1/telemetry/metrics/", headers=headers)).json()
    assert body["total"] == 2
    only = (
        await client.get(f"/api/v1/telemetry/metrics/?tenant_ids={other_tenant.id}", headers=headers)
    ).json()
    assert [r["name"] for r in only["result"]] == ["b"]
