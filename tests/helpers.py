"""Building histories through the real API, for the metrics, bulk and health tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.conftest import Tenant, iso


async def make_connection(
    client: httpx.AsyncClient, tenant: Tenant, name: str = "Warehouse", **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        tenant.connections_url(),
        json={"name": name, "type": "snowflake", "state": "connected", **fields},
        headers=tenant.write,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def push(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection_id: str,
    key: dict[str, str],
    *,
    started_at: datetime,
    completed_at: datetime | None = None,
    **report: Any,
) -> dict[str, Any]:
    """POST …/metrics/: a finished run (with completed_at) or a pending one."""
    body: dict[str, Any] = {"started_at": iso(started_at)}
    if completed_at is not None:
        body["completed_at"] = iso(completed_at)
        body.update(report)
    response = await client.post(tenant.connection_url(connection_id) + "metrics/", json=body, headers=key)
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out
