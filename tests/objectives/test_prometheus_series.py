"""GET /metrics: the series the burn-rate rules read, one per objective as it applies to each
connection, served only where the connection series are (a platform or metrics token)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant
from tests.metrics.test_prometheus import platform_headers, samples, value
from tests.objectives.test_objectives_api import (
    add_connection,
    add_objective,
    conn_objectives,
    fail_three,
    org_objectives,
)


async def test_metrics__objectives__bad_counted_and_allowed_per_applied_objective(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    failing = await add_connection(client, tenant, name="Failing")
    plain = await add_connection(client, tenant, name="Plain")
    own = await add_objective(
        client, conn_objectives(tenant, failing), tenant, indicator="availability", target_percent=99.5
    )
    default = await add_objective(
        client, org_objectives(tenant), tenant, indicator="freshness", target_percent=99
    )
    await fail_three(client, tenant, failing, service_key, clock.now - timedelta(minutes=30))

    text = (await client.get("/metrics", headers=await platform_headers(db, clock.now))).text

    mine = {"organisation_id": str(tenant.id), "connection_id": failing, "objective_id": own["id"]}
    assert value(text, "pipepulse_objective_bad", **mine, indicator="availability", connection="Failing") == [
        1.0
    ]
    assert value(text, "pipepulse_objective_counted", **mine) == [1.0]
    assert value(text, "pipepulse_objective_allowed_bad_ratio", **mine) == [0.005]
    # The organisation's default applies to the connection without objectives of its own only.
    inherited = {"connection_id": plain, "objective_id": default["id"], "indicator": "freshness"}
    assert value(text, "pipepulse_objective_bad", **inherited) == [0.0]
    assert value(text, "pipepulse_objective_allowed_bad_ratio", **inherited) == [0.01]
    assert value(text, "pipepulse_objective_bad", connection_id=failing, objective_id=default["id"]) == []


async def test_metrics__objectives__freshness_late__bad(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock, db: Database
) -> None:
    cid = await add_connection(client, tenant, name="Quiet", freshness_sla_seconds=3600)
    made = await add_objective(
        client, conn_objectives(tenant, cid), tenant, indicator="freshness", target_percent=99
    )
    clock.advance(hours=2)

    text = (await client.get("/metrics", headers=await platform_headers(db, clock.now))).text

    assert value(text, "pipepulse_objective_bad", objective_id=made["id"]) == [1.0]


async def test_metrics__objectives__organisation_token__no_objective_series(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    cid = await add_connection(client, tenant, name="Secret name")
    await add_objective(
        client, conn_objectives(tenant, cid), tenant, indicator="availability", target_percent=99
    )

    for headers in ({}, tenant.read):
        text = (await client.get("/metrics", headers=headers)).text
        assert samples(text, "pipepulse_objective_bad") == []
        assert "Secret name" not in text


async def test_metrics__objectives__inside_maintenance__neither_bad_nor_counted(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    cid = await add_connection(client, tenant, name="Vacuumed")
    made = await add_objective(
        client, conn_objectives(tenant, cid), tenant, indicator="availability", target_percent=99
    )
    await fail_three(client, tenant, cid, service_key, clock.now - timedelta(minutes=30))
    window = {
        "matchers": {"connection": cid},
        "time_zone": "UTC",
        "weekdays": [0, 1, 2, 3, 4, 5, 6],
        "start": "11:00",  # the clock reads 12:00
        "duration_minutes": 90,
        "comment": "nightly vacuum",
    }
    made_window = await client.post(
        f"/api/v1/organisations/{tenant.id}/maintenance-windows/", json=window, headers=tenant.write
    )
    assert made_window.status_code == 201, made_window.text

    text = (await client.get("/metrics", headers=await platform_headers(db, clock.now))).text

    assert value(text, "pipepulse_objective_bad", objective_id=made["id"]) == [0.0]
    assert value(text, "pipepulse_objective_counted", objective_id=made["id"]) == [0.0]
