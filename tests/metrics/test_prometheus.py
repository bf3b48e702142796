"""GET /metrics: process metrics, and one health series per connection that agrees with the API."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.db.session import Database
from pipepulse.metrics import stored
from pipepulse.rules import STATUSES
from pipepulse.snapshots import repository as snapshots
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


HEALTH = (
    "pipepulse_connection_status",
    "pipepulse_connection_events_delivered_24h",
    "pipepulse_connection_failed_runs_24h",
    "pipepulse_connection_dlq_batches_24h",
    "pipepulse_connection_last_delivery_timestamp_seconds",
    "pipepulse_connection_records_lag",
)


def health_exposition(text: str) -> set[str]:
    """The connection-health gauges of an exposition as a scraper reads them: HELP and TYPE
    lines, and each sample's name, label set and value."""
    out = set()
    for line in text.splitlines():
        if line.startswith("# ") and line.split(" ")[2] in HEALTH:
            out.add(line)
        elif line.split("{", 1)[0] in HEALTH:
            series, number = line.rsplit(" ", 1)
            name, labels = series.split("{", 1)
            out.add(f"{name} {sorted(LABEL.findall(labels))} {float(number)!r}")
    return out


async def test_metrics__two_organisations__every_connection_series_labelled_and_valued_exactly(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
) -> None:
    async def add(owner: Tenant, name: str, *reports: dict[str, Any]) -> str:
        created = await client.post(
            owner.connections_url(), json={"name": name, "type": "duckdb"}, headers=owner.write
        )
        connection_id: str = created.json()["id"]
        for minutes, report in zip((30, 10), reports, strict=False):
            body = {
                "started_at": iso(clock.now - timedelta(minutes=minutes)),
                "completed_at": iso(clock.now - timedelta(minutes=minutes - 1)),
                **report,
            }
            pushed = await client.post(
                owner.connection_url(connection_id) + "metrics/", json=body, headers=service_key
            )
            assert pushed.status_code == 201
        return connection_id

    # The same name in both organisations, different runs; a connection that never ran.
    loaded = await add(
        tenant,
        "orders",
        {"events_delivered": 0, "batches_dlq": 0, "error": "warehouse refused"},
        {"events_delivered": 120, "batches_dlq": 2, "events_pending": 7, "error": None},
    )
    idle = await add(tenant, "idle")
    theirs = await add(other_tenant, "orders", {"events_delivered": 5, "batches_dlq": 0, "error": None})

    text = (await client.get("/metrics", headers=await platform_headers(db, clock.now))).text

    statuses = {}
    for owner, cid in ((tenant, loaded), (tenant, idle), (other_tenant, theirs)):
        telemetry = await client.get(owner.connection_url(cid) + "telemetry/", headers=owner.read)
        statuses[cid] = telemetry.json()["status"]
    assert statuses == {loaded: "error", idle: "idle", theirs: "active"}

    def gauge(
        name: str, help_text: str, *rows: tuple[Tenant, str, str, float], status: bool = False
    ) -> set[str]:
        lines = {f"# HELP {name} {help_text}", f"# TYPE {name} gauge"}
        for owner, cid, label, number in rows:
            labels = [("connection", label), ("connection_id", cid), ("organisation_id", str(owner.id))]
            if status:
                for each in STATUSES:
                    current = 1.0 if each == statuses[cid] else 0.0
                    lines.add(f"{name} {sorted([*labels, ('status', each)])} {current!r}")
            else:
                lines.add(f"{name} {sorted(labels)} {float(number)!r}")
        return lines

    last = (clock.now - timedelta(minutes=9)).timestamp()
    expected = (
        gauge(
            "pipepulse_connection_status",
            "SPEC §3 status of each connection: 1 for the current status, 0 for the others.",
            (tenant, loaded, "orders", 0),
            (tenant, idle, "idle", 0),
            (other_tenant, theirs, "orders", 0),
            status=True,
        )
        | gauge(
            "pipepulse_connection_events_delivered_24h",
            "Events delivered in the last 24 hours.",
            (tenant, loaded, "orders", 120),
            (tenant, idle, "idle", 0),
            (other_tenant, theirs, "orders", 5),
        )
        | gauge(
            "pipepulse_connection_failed_runs_24h",
            "Partial, failed and orphaned runs in the last 24 hours.",
            (tenant, loaded, "orders", 2),  # the failed run, and the partial one (2 batches to the DLQ)
            (tenant, idle, "idle", 0),
            (other_tenant, theirs, "orders", 0),
        )
        | gauge(
            "pipepulse_connection_dlq_batches_24h",
            "Batches moved to the dead-letter queue, last 24 hours.",
            (tenant, loaded, "orders", 2),
            (tenant, idle, "idle", 0),
            (other_tenant, theirs, "orders", 0),
        )
        | gauge(
            "pipepulse_connection_last_delivery_timestamp_seconds",
            "When the connection last delivered events (absent if never).",
            (tenant, loaded, "orders", last),
            (other_tenant, theirs, "orders", (clock.now - timedelta(minutes=29)).timestamp()),
        )
        | gauge(
            "pipepulse_connection_records_lag",
            "Events pending, as the latest run reported.",
            (tenant, loaded, "orders", 7),
        )
    )
    assert health_exposition(text) == expected

    # Computed through the stored bulk ``latest`` answers: the scrape stored the answers of the
    # connections that ran, so the next scrape (and GET /telemetry/metrics/) reads them.
    async with db.session() as session:
        kept = await snapshots.stored_latest(session, [loaded, theirs])
    assert {cid: stored.decode(kept[cid].body or "null")["events_delivered"] for cid in kept} == {
        loaded: 120,
        theirs: 5,
    }
    assert all(answer.answered_version == answer.inputs_version for answer in kept.values())
