"""The demo's OpenLineage-fed connection tells its story: hourly runs, a failure two days ago."""

from __future__ import annotations

import httpx

from pipepulse.db.session import Database
from pipepulse.demo import build_history
from tests.conftest import FrozenClock


async def test_demo__openlineage_connection__active_with_a_week_of_runs_and_its_failures(
    db: Database, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    handles = await build_history(db, clock.now)
    headers = {"Authorization": f"Bearer {handles.token}"}
    base = f"/api/v1/organisations/{handles.organisation_id}/integrations/warehouse-connections/"
    items = (await client.get(base, headers=headers)).json()["items"]
    (fed,) = [c for c in items if c["type"] == "openlineage"]
    assert fed["name"] == "airflow://acme-prod/orders_dag.load_orders"
    assert fed["lineage_job"] == {"namespace": "airflow://acme-prod", "name": "orders_dag.load_orders"}
    telemetry = (await client.get(f"{base}{fed['id']}/telemetry/", headers=headers)).json()
    assert telemetry["status"] == "active"
    assert telemetry["events_last_24h"]["total"] > 24 * 3000
    errors = [e["message"] for e in telemetry["recent_errors"]]
    assert errors == ['psycopg2.errors.UndefinedTable: relation "staging.orders" does not exist'] * 2
    runs = (await client.get(f"{base}{fed['id']}/metrics/", headers=headers)).json()
    assert runs["total"] == 7 * 24
    # On the dashboard: its card on the organisation page, and its own page with the errors.
    assert (await client.post("/sign-in", data={"token": handles.token, "next": ""})).status_code == 303
    organisation = (await client.get(f"/orgs/{handles.organisation_id}/")).text
    assert "airflow://acme-prod/orders_dag.load_orders" in organisation
    assert "OpenLineage" in organisation
    page = (await client.get(f"/orgs/{handles.organisation_id}/connections/{fed['id']}/")).text
    assert "relation &#34;staging.orders&#34; does not exist" in page or 'relation "staging.orders"' in page
