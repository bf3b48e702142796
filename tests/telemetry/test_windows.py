"""SPEC §3 windows, exact to the second: one run on each side of each edge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import FrozenClock, Tenant, iso

W = timedelta(minutes=15)


async def push(client: httpx.AsyncClient, runs_url: str, key: dict[str, str], **body: Any) -> None:
    response = await client.post(runs_url, json=body, headers=key)
    assert response.status_code == 201, response.text


async def telemetry(client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(tenant.connection_url(connection["id"]) + "telemetry/", headers=tenant.read)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("age", "in_24h", "in_7d"),
    [
        (timedelta(0), True, True),
        (timedelta(hours=24) - timedelta(seconds=1), True, True),
        (timedelta(hours=24), False, True),
        (timedelta(days=7) - timedelta(seconds=1), False, True),
        (timedelta(days=7), False, False),
    ],
)
async def test_telemetry__run_completed_on_window_edge__counted_by_strict_lower_bound(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
    age: timedelta,
    in_24h: bool,
    in_7d: bool,
) -> None:
    completed = clock.now - age
    await push(
        client,
        runs_url,
        service_key,
        started_at=iso(completed - timedelta(minutes=1)),
        completed_at=iso(completed),
        events_delivered=10,
        batches_dlq=1,
    )
    body = await telemetry(client, tenant, connection)
    assert body["events_last_24h"]["total"] == (10 if in_24h else 0)
    assert body["events_last_7d"]["total"] == (10 if in_7d else 0)
    assert body["failed_deliveries_last_24h"] == (1 if in_24h else 0)
    assert len(body["recent_errors"]) == (1 if in_7d else 0)


@pytest.mark.parametrize(
    ("started_ago", "orphaned", "in_24h"),
    [
        (W - timedelta(seconds=1), False, False),
        (W, True, True),
        (W + timedelta(hours=24) - timedelta(seconds=1), True, True),
        (W + timedelta(hours=24), True, False),
    ],
)
async def test_telemetry__pending_run_on_orphan_edge__orphaned_from_window_end(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
    started_ago: timedelta,
    orphaned: bool,
    in_24h: bool,
) -> None:
    await push(client, runs_url, service_key, run_id="late", started_at=iso(clock.now - started_ago))
    body = await telemetry(client, tenant, connection)
    assert body["failed_deliveries_last_24h"] == (1 if in_24h else 0)
    assert body["status"] == ("error" if in_24h else "idle")
    errors = body["recent_errors"]
    if orphaned:
        assert errors == [
            {
                "occurred_at": iso(clock.now - started_ago + W).replace(".000000Z", "Z"),
                "message": "loader did not report back within 15 minutes",
                "run_id": "late",
            }
        ]
    else:
        assert errors == []
    run = await client.get(runs_url + "late/", headers=tenant.read)
    assert run.json()["outcome"] == ("orphaned" if orphaned else "pending")
