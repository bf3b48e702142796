"""Per-pipeline metrics (SPEC §4.3) by example: latest, timeseries, timesummary, bad parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import FrozenClock, Tenant, iso
from tests.helpers import make_connection, push


def metrics_url(tenant: Tenant, connection: dict[str, Any]) -> str:
    return tenant.connection_url(connection["id"]) + "telemetry/metrics/"


def q(value: datetime) -> str:
    return iso(value).replace("+", "%2B")


async def test_metrics__defaults__latest_over_last_24h_with_metadata(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    conn = await make_connection(client, tenant)
    now = clock.now
    await push(client, tenant, conn["id"], service_key, started_at=now - timedelta(hours=2),
               completed_at=now - timedelta(hours=2) + timedelta(seconds=30), events_delivered=10,
               events_by_type={"evaluations": 10}, latency_ms=250, events_pending=7)  # fmt: skip
    response = await client.get(metrics_url(tenant, conn), headers=tenant.read)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {
        "status": "active",
        "latency": 250,
        "recordsLag": 7,
        "events_delivered": 10,
        "events_by_type": {"evaluations": 10, "custom_events": 0, "total": 10},
        "runs": 1,
        "failed_runs": 0,
        "batches_dlq": 0,
        "success_rate": 100.0,
        "last_delivery_at": "2026-04-20T10:00:30Z",
    }
    assert body["metadata"]["latency"] == {"name": "Pipeline Latency", "unit": "milliseconds"}
    assert set(body["metadata"]) == set(body["data"])
    assert body["timestamp_from"] == "2026-04-19T12:00:00Z"
    assert body["timestamp_to"] == body["as_of"] == "2026-04-20T12:00:00Z"
    assert (body["time_type"], body["time_interval"], body["time_unit"]) == ("latest", 1, "hour")


async def test_metrics__timeseries_daily__every_bucket_present_with_zeroes(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    conn = await make_connection(client, tenant)
    t = clock.now - timedelta(days=2, hours=3)
    await push(client, tenant, conn["id"], service_key, started_at=t, completed_at=t, events_delivered=4)
    await push(client, tenant, conn["id"], service_key, started_at=t, completed_at=t, error="disk full")
    start, end = datetime(2026, 4, 14, tzinfo=UTC), datetime(2026, 4, 21, tzinfo=UTC)
    response = await client.get(
        f"{metrics_url(tenant, conn)}?time_type=timeseries&time_unit=day&timestamp_from={q(start)}"
        f"&timestamp_to={q(end)}",
        headers=tenant.read,
    )
    data = response.json()["data"]
    assert [p["timestamp"][:10] for p in data["runs"]] == [f"2026-04-{d}" for d in range(14, 21)]
    assert [p["value"] for p in data["runs"]] == [0, 0, 0, 0, 2, 0, 0]
    assert [p["value"] for p in data["status"]][4] == "degraded"  # one of its two runs failed
    assert data["success_rate"][4]["value"] == 50.0
    assert data["success_rate"][0]["value"] is None
    assert [p["value"] for p in data["events_by_type"]["other"]] == [0, 0, 0, 0, 4, 0, 0]


async def test_metrics__orphan__counts_as_failed_run_at_window_end(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    conn = await make_connection(client, tenant)
    await push(client, tenant, conn["id"], service_key, started_at=clock.now - timedelta(minutes=70))
    await push(client, tenant, conn["id"], service_key, started_at=clock.now - timedelta(minutes=5))
    response = await client.get(
        f"{metrics_url(tenant, conn)}?time_type=timeseries&time_unit=minute&time_interval=15"
        f"&timestamp_from={q(clock.now - timedelta(hours=1))}",
        headers=tenant.read,
    )
    runs = [(p["timestamp"][11:16], p["value"]) for p in response.json()["data"]["failed_runs"]]
    # Started 10:50, orphaned at 11:05; the run started 11:55 is still pending.
    assert runs == [("11:00", 1), ("11:15", 0), ("11:30", 0), ("11:45", 0)]
    summary = await client.get(f"{metrics_url(tenant, conn)}?time_type=timesummary", headers=tenant.read)
    assert summary.json()["data"]["status"] == "error"


@pytest.mark.parametrize(
    ("query", "field", "fragment"),
    [
        ("time_type=timeseries&time_unit=minute&timestamp_from=2026-04-01T00:00:00Z", "time_interval",
         "make 28080 buckets; at most 10000 are allowed: shorten the range or widen the interval"),
        ("timestamp_from=2026-04-20T12:00:00Z&timestamp_to=2026-04-20T11:00:00Z", "timestamp_from",
         "timestamp_from (2026-04-20T12:00:00Z) must be before timestamp_to (2026-04-20T11:00:00Z)"),
        ("timestamp_from=2026-04-20T11:00:00Z&timestamp_to=2026-04-20T11:00:00Z", "timestamp_from",
         "must be before timestamp_to"),
        ("time_unit=fortnight", "time_unit", "Input should be 'minute', 'hour', 'day', 'week' or 'month'"),
        ("time_interval=0", "time_interval", "greater than or equal to 1"),
        ("time_type=forever", "time_type", "Input should be 'latest', 'timeseries' or 'timesummary'"),
        ("timestamp_from=yesterday", "timestamp_from", "ISO 8601"),
        ("timestamp_from=2026-04-20T11:00:00", "timestamp_from", "timezone"),  # naive: ambiguous
        ("time_type=timeseries&time_unit=month&time_interval=10000&timestamp_from=0001-01-01T00:00:00Z",
         "timestamp_from", "between 1970-01-01 and 2200-01-01"),
    ],
)  # fmt: skip
async def test_metrics__bad_parameters__422_naming_the_parameter_and_the_fix(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    query: str,
    field: str,
    fragment: str,
) -> None:
    response = await client.get(f"{metrics_url(tenant, connection)}?{query}", headers=tenant.read)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert fragment in error["msg"]


async def test_metrics__foreign_connection__404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, connection: dict[str, Any]
) -> None:
    url = f"/api/v1/organisations/{tenant.id}/integrations/warehouse-connections/{connection['id']}/"
    assert (await client.get(url + "telemetry/metrics/", headers=other_tenant.read)).status_code == 404
    foreign = (
        f"/api/v1/organisations/{other_tenant.id}/integrations/warehouse-connections/{connection['id']}/"
    )
    assert (await client.get(foreign + "telemetry/metrics/", headers=other_tenant.read)).status_code == 404
