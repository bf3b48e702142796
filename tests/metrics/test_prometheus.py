"""GET /metrics: process metrics, and one health series per connection that agrees with the API."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant, iso

LABEL = re.compile(r'(\w+)="([^"]*)"')


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            out.append((dict(LABEL.findall(labels)), float(value)))
    return out


def value(text: str, name: str, **labels: str) -> list[float]:
    return [v for found, v in samples(text, name) if labels.items() <= found.items()]


async def platform_headers(db: Database, now: datetime) -> dict[str, str]:
    async with db.session(write=True) as session:
        issued = await auth_service.create_token(
            session, organisation_id=None, scopes=[scopes.READ_PIPELINE_METRICS], name="scrape", now=now
        )
    return {"Authorization": f"Bearer {issued.token}"}


async def test_metrics__connections__health_gauges_match_telemetry(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    ids = {}
    for name, report in (
        ("good", {"events_delivered": 120, "batches_dlq": 0, "error": None}),
        ("bad", {"events_delivered": 0, "batches_dlq": 0, "error": "warehouse refused"}),
    ):
        created = await client.post(
            tenant.connections_url(), json={"name": name, "type": "duckdb"}, headers=tenant.write
        )
        ids[name] = created.json()["id"]
        body: dict[str, Any] = {
            "started_at": iso(clock.now - timedelta(minutes=10)),
            "completed_at": iso(clock.now - timedelta(minutes=9)),
            **report,
        }
        pushed = await client.post(
            tenant.connection_url(ids[name]) + "metrics/", json=body, headers=service_key
        )
        assert pushed.status_code == 201

    response = await client.get("/metrics", headers=await platform_headers(db, clock.now))
    assert response.status_code == 200
    text = response.text
    assert "pipepulse_http_requests_total" in text
    for name, expected in (("good", "active"), ("bad", "error")):
        telemetry = (
            await client.get(tenant.connection_url(ids[name]) + "telemetry/", headers=tenant.read)
        ).json()
        assert telemetry["status"] == expected
        cid = ids[name]
        assert value(text, "pipepulse_connection_status", connection_id=cid, status=expected) == [1.0]
        assert sum(value(text, "pipepulse_connection_status", connection_id=cid)) == 1.0
        assert value(
            text, "pipepulse_connection_events_delivered_24h", connection_id=cid, connection=name
        ) == [float(telemetry["events_last_24h"]["total"])]
    assert value(text, "pipepulse_connection_last_delivery_timestamp_seconds", connection_id=ids["good"]) == [
        (clock.now - timedelta(minutes=9)).timestamp()
    ]
    assert value(text, "pipepulse_connection_last_delivery_timestamp_seconds", connection_id=ids["bad"]) == []
    assert value(text, "pipepulse_connection_failed_runs_24h", connection_id=ids["bad"]) == [1.0]


async def test_metrics__requests__counted_by_route_template_not_raw_path(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]
) -> None:
    await client.get(tenant.connection_url(connection["id"]) + "telemetry/", headers=tenant.read)
    await client.get("/no/such/page")
    text = (await client.get("/metrics")).text
    template = "/api/v1/organisations/{organisation_pk}/integrations/warehouse-connections/" + (
        "{connection_id}/telemetry/"
    )
    assert value(text, "pipepulse_http_requests_total", route=template, status="200", method="GET") == [1.0]
    assert value(text, "pipepulse_http_requests_total", route="unmatched", status="404") == [1.0]
    assert connection["id"] not in "".join(
        labels["route"] for labels, _ in samples(text, "pipepulse_http_requests_total")
    )
