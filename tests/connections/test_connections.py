"""SPEC §4.5: connections CRUD."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.conftest import FrozenClock, Tenant, iso


async def test_create_connection__defaults__as_spec(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        tenant.connections_url(), json={"name": "Acme prod", "type": "snowflake"}, headers=tenant.write
    )
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("wc_")
    assert body["organisation_id"] == tenant.id
    assert body["integration_type"] == "warehouse_delivery"
    assert body["state"] == "pending_customer_setup"
    assert body["event_types"] == ["evaluations", "custom_events"]
    assert body["schedule_interval_seconds"] == 3600
    assert body["config"] == {}
    assert body["created_at"] == "2026-04-20T12:00:00Z"
    fetched = await client.get(tenant.connection_url(body["id"]), headers=tenant.read)
    assert fetched.json() == body


async def test_update_connection__fields_and_type__fields_change_type_422(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any], clock: FrozenClock
) -> None:
    url = tenant.connection_url(connection["id"])
    clock.advance(minutes=1)
    response = await client.patch(
        url,
        json={"state": "paused", "event_types": ["evaluations"], "config": {"schema": "analytics"}},
        headers=tenant.write,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["event_types"], body["config"]) == (
        "paused",
        ["evaluations"],
        {"schema": "analytics"},
    )
    assert body["updated_at"] == "2026-04-20T12:01:00Z"
    same_type = await client.patch(url, json={"type": "snowflake"}, headers=tenant.write)
    assert same_type.status_code == 200
    changed = await client.patch(url, json={"type": "bigquery"}, headers=tenant.write)
    assert changed.status_code == 422
    assert "type cannot change" in changed.json()["detail"][0]["msg"]
    assert (await client.get(url, headers=tenant.read)).json()["type"] == "snowflake"


async def test_delete_connection__with_runs__it_and_its_runs_gone(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    await client.post(
        runs_url,
        json={
            "run_id": "r1",
            "started_at": iso(clock.now - timedelta(minutes=2)),
            "completed_at": iso(clock.now),
            "events_delivered": 3,
        },
        headers=service_key,
    )
    url = tenant.connection_url(connection["id"])
    assert (await client.delete(url, headers=tenant.write)).status_code == 204
    assert (await client.get(url, headers=tenant.read)).status_code == 404
    assert (await client.get(url + "telemetry/", headers=tenant.read)).status_code == 404
    assert (
        await client.patch(runs_url + "r1/", json={"completed_at": iso(clock.now)}, headers=service_key)
    ).status_code == 404
    # Re-creating gives a fresh connection with no history.
    again = await client.post(
        tenant.connections_url(), json={"name": "again", "type": "duckdb"}, headers=tenant.write
    )
    telemetry = await client.get(
        tenant.connection_url(again.json()["id"]) + "telemetry/", headers=tenant.read
    )
    assert telemetry.json()["events_last_7d"]["total"] == 0


async def test_list_connections__pages_and_state_filter__newest_first(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    for i, state in enumerate(["connected", "paused", "connected"]):
        clock.advance(seconds=1)
        await client.post(
            tenant.connections_url(),
            json={"name": f"c{i}", "type": "postgres", "state": state},
            headers=tenant.write,
        )
    page = (await client.get(tenant.connections_url(), params={"size": 2}, headers=tenant.read)).json()
    assert [c["name"] for c in page["items"]] == ["c2", "c1"]
    assert (page["total"], page["has_next"], page["page"], page["size"]) == (3, True, 1, 2)
    connected = (
        await client.get(tenant.connections_url(), params={"state": "connected"}, headers=tenant.read)
    ).json()
    assert [c["name"] for c in connected["items"]] == ["c2", "c0"]
