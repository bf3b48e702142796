"""Reports are counted once even when they race (row locks on PostgreSQL, BEGIN IMMEDIATE on SQLite)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from tests.conftest import FrozenClock, Tenant, iso


async def test_report__concurrent_identical_patches__counted_once(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    for i in range(5):
        await client.post(
            runs_url,
            json={"run_id": f"r{i}", "started_at": iso(clock.now - timedelta(minutes=3))},
            headers=service_key,
        )
    body = {
        "completed_at": iso(clock.now - timedelta(minutes=1)),
        "events_delivered": 100,
        "events_by_type": {"evaluations": 60, "custom_events": 40},
        "batches_dlq": 1,
        "error": None,
    }
    responses = await asyncio.gather(
        *[client.patch(f"{runs_url}r{i % 5}/", json=body, headers=service_key) for i in range(40)]
    )
    assert sorted({r.status_code for r in responses}) == [204]
    telemetry = (
        await client.get(tenant.connection_url(connection["id"]) + "telemetry/", headers=tenant.read)
    ).json()
    assert telemetry["events_last_24h"] == {"evaluations": 300, "custom_events": 200, "total": 500}
    assert telemetry["failed_deliveries_last_24h"] == 5


async def test_report__concurrent_conflicting_patches__one_wins_rest_409(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    await client.post(
        runs_url,
        json={"run_id": "r", "started_at": iso(clock.now - timedelta(minutes=3))},
        headers=service_key,
    )
    bodies = [
        {"completed_at": iso(clock.now), "events_delivered": n, "batches_dlq": 0, "error": None}
        for n in range(1, 11)
    ]
    responses = await asyncio.gather(
        *[client.patch(f"{runs_url}r/", json=b, headers=service_key) for b in bodies]
    )
    codes = [r.status_code for r in responses]
    assert codes.count(204) == 1
    assert codes.count(409) == 9
    winner = bodies[codes.index(204)]["events_delivered"]
    telemetry = (
        await client.get(tenant.connection_url(connection["id"]) + "telemetry/", headers=tenant.read)
    ).json()
    assert telemetry["events_last_24h"]["total"] == winner


async def test_push__concurrent_same_client_key__one_run(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    body = {
        "run_id": "once",
        "started_at": iso(clock.now - timedelta(minutes=2)),
        "completed_at": iso(clock.now),
        "events_delivered": 7,
    }
    responses = await asyncio.gather(
        *[client.post(runs_url, json=body, headers=service_key) for _ in range(20)]
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1
    assert codes.count(200) == 19
    telemetry = (
        await client.get(tenant.connection_url(connection["id"]) + "telemetry/", headers=tenant.read)
    ).json()
    assert telemetry["events_last_24h"]["total"] == 7
