"""GET …/telemetry/ (SPEC §3): the answer for a connection with no history, and an unknown one."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Tenant


async def test_telemetry__new_connection__no_data_shape(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]
) -> None:
    response = await client.get(tenant.connection_url(connection["id"]) + "telemetry/", headers=tenant.read)
    assert response.json() == {
        "status": "idle",
        "last_delivery_at": None,
        "events_last_24h": {"evaluations": 0, "custom_events": 0, "total": 0},
        "events_last_7d": {"evaluations": 0, "custom_events": 0, "total": 0},
        "failed_deliveries_last_24h": 0,
        "recent_errors": [],
    }


async def test_telemetry__unknown_connection__404(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(tenant.connection_url("wc_missing") + "telemetry/", headers=tenant.read)
    assert response.status_code == 404
    assert response.json() == {"detail": "warehouse connection not found"}
