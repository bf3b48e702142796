"""The latest completion times kept per connection answer only for instants after them."""

from __future__ import annotations

from datetime import timedelta

import httpx

from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant, iso
from tests.helpers import make_connection, push


async def test_latest_times__report_from_a_clock_ahead__reads_answer_as_of_now(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    conn = await make_connection(client, tenant)
    earlier = clock.now - timedelta(minutes=10)
    await push(client, tenant, conn["id"], service_key, started_at=earlier - timedelta(minutes=1),
               completed_at=earlier, events_delivered=5)  # fmt: skip
    # A loader whose clock runs two minutes ahead: accepted (within the 5-minute skew), but
    # not yet finished as of now.
    ahead = clock.now + timedelta(minutes=2)
    await push(client, tenant, conn["id"], service_key, started_at=clock.now - timedelta(minutes=1),
               completed_at=ahead, events_delivered=7, error="boom")  # fmt: skip

    telemetry = (
        await client.get(tenant.connection_url(conn["id"]) + "telemetry/", headers=tenant.read)
    ).json()
    assert telemetry["last_delivery_at"] == iso(earlier).replace(".000000", "")
    assert telemetry["events_last_24h"]["total"] == 5

    health = (
        await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health?days=1", headers=tenant.read)
    ).json()
    assert health["total_events"] == 1
    assert health["last_success_at"] == telemetry["last_delivery_at"]
    assert health["last_error_at"] is None
    assert health["by_integration_type"][0]["last_event_at"] == telemetry["last_delivery_at"]

    # Once the clock has caught up, the run counts as everything else does.
    clock.advance(minutes=3)
    health = (
        await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health?days=1", headers=tenant.read)
    ).json()
    assert health["total_events"] == 2
    assert health["last_error_at"] == iso(ahead).replace(".000000", "")
    telemetry = (
        await client.get(tenant.connection_url(conn["id"]) + "telemetry/", headers=tenant.read)
    ).json()
    assert telemetry["last_delivery_at"] == iso(ahead).replace(".000000", "")
