"""A small organisation with one connection in each status, pushed through the public API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Tenant, iso


@dataclass
class Scenario:
    """Connection ids by the status SPEC §3 gives them at ``now``."""

    active: str
    degraded: str
    error: str
    idle: str

    @property
    def ids(self) -> dict[str, str]:
        return {"active": self.active, "degraded": self.degraded, "error": self.error, "idle": self.idle}


async def create_connection(client: httpx.AsyncClient, tenant: Tenant, name: str, type_: str) -> str:
    response = await client.post(
        tenant.connections_url(),
        json={"name": name, "type": type_, "state": "connected"},
        headers=tenant.write,
    )
    assert response.status_code == 201, response.text
    connection_id: str = response.json()["id"]
    return connection_id


async def push(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    connection_id: str,
    completed_at: datetime,
    *,
    evaluations: int = 0,
    custom_events: int = 0,
    untyped: int = 0,
    error: str | None = None,
    batches_dlq: int = 0,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "started_at": iso(completed_at - timedelta(seconds=42)),
        "completed_at": iso(completed_at),
        "events_delivered": evaluations + custom_events + untyped,
        "batches_dlq": batches_dlq,
        "error": error,
    }
    if not untyped:
        body["events_by_type"] = {"evaluations": evaluations, "custom_events": custom_events}
    response = await client.post(
        tenant.connection_url(connection_id) + "metrics/", json=body, headers=service_key
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def seed(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], now: datetime
) -> Scenario:
    active = await create_connection(client, tenant, "Analytics warehouse", "snowflake")
    degraded = await create_connection(client, tenant, "Events lake", "bigquery")
    error = await create_connection(client, tenant, "Finance replica", "postgres")
    idle = await create_connection(client, tenant, "Sandbox", "duckdb")

    # Active: a delivery a day for a week, one with events but no per-type breakdown.
    for i in range(7):
        at = now - timedelta(hours=23 * i, minutes=10)
        await push(client, tenant, service_key, active, at, evaluations=1000 + 37 * i, custom_events=120 + i)
    await push(client, tenant, service_key, active, now - timedelta(hours=30), untyped=55)
    # Degraded: a failure and a partial earlier today, then a good run.
    await push(client, tenant, service_key, degraded, now - timedelta(hours=20), evaluations=500)
    await push(client, tenant, service_key, degraded, now - timedelta(hours=6), error="warehouse timed out")
    await push(client, tenant, service_key, degraded, now - timedelta(hours=4), evaluations=80, batches_dlq=2)
    await push(client, tenant, service_key, degraded, now - timedelta(hours=1), evaluations=300)
    # Error: it worked two days ago; the last three runs failed.
    await push(client, tenant, service_key, error, now - timedelta(days=2), custom_events=40)
    await push(client, tenant, service_key, error, now - timedelta(hours=12), custom_events=25)
    failures = ((3, "permission denied for schema analytics"), (2, "permission denied"), (1, "boom"))
    for hours, message in failures:
        await push(client, tenant, service_key, error, now - timedelta(hours=hours), error=message)
    return Scenario(active=active, degraded=degraded, error=error, idle=idle)
