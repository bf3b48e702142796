"""GET {conn}/health/ (SPEC §7.2) and the freshness_sla_seconds connection field."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.conftest import FrozenClock, Tenant, iso
from tests.history.oracle import Run
from tests.history.test_status_history_api import NOW, create_connection, failed, ok, parse, push

HOUR = timedelta(hours=1)


async def test_health__broken_connection__error_since_the_third_failure_with_its_failing_streak(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))
    await push(client, url, service_key, ok(0, NOW - 5 * HOUR))
    for i in range(1, 5):
        await push(
            client, url, service_key, failed(i, NOW - (5 - i) * HOUR + timedelta(minutes=1), f"denied {i}")
        )

    body = (await client.get(url + "health/", headers=tenant.read)).json()

    assert body["status"] == "error"
    assert body["reason"] == {
        "code": "latest_runs_failing",
        "text": "The last 3 finished runs were all failing.",
        "runs": ["f4", "f3", "f2"],
    }
    third = NOW - 2 * HOUR + timedelta(minutes=1)
    assert parse(body["since"]) == third
    # SPEC §7.1: the incident carries the failing streak that led into it, from the first failure.
    first = NOW - 4 * HOUR + timedelta(minutes=1)
    assert body["open_incident"] == {
        "started_at": iso(third).replace(".000000", ""),
        "ended_at": None,
        "streak_started_at": iso(first).replace(".000000", ""),
        "duration_seconds": (NOW - third).total_seconds(),
        "first_error": "denied 1",
        "first_error_run_id": "f1",
        "failing_runs": 4,
    }
    assert body["as_of"] == "2026-04-20T12:00:00Z"


async def test_health__long_healthy_history__since_is_where_it_began_days_ago(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))
    first = NOW - timedelta(days=9, minutes=30)
    hours = int((NOW - first) / HOUR)
    for i in range(hours + 1):
        await push(client, url, service_key, ok(i, first + i * HOUR))

    body = (await client.get(url + "health/", headers=tenant.read)).json()

    assert body["status"] == "active"
    assert body["reason"]["code"] == "delivering"
    assert "runs" not in body["reason"]
    assert parse(body["since"]) == first
    assert body["open_incident"] is None


async def test_health__never_ran__idle_since_created_and_late_after_the_default_sla(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant, schedule_interval_seconds=600))
    created = clock.now
    clock.advance(minutes=40)

    body = (await client.get(url + "health/", headers=tenant.read)).json()

    assert body["status"] == "idle"
    assert body["reason"]["code"] == "no_runs_yet"
    assert parse(body["since"]) == created
    # 2 x 10 minutes + the 15-minute orphan window = 35 minutes; 40 minutes since creation.
    assert body["freshness"] == {
        "sla_seconds": 2100,
        "last_delivery_at": None,
        "late": True,
        "late_by_seconds": 300.0,
    }


async def test_health__own_sla__late_by_the_excess_and_never_late_when_paused(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    conn = await create_connection(client, tenant, freshness_sla_seconds=3600)
    url = tenant.connection_url(conn)
    delivered = NOW - timedelta(hours=3, minutes=10)
    await push(client, url, service_key, ok(0, delivered))

    fresh = (await client.get(url + "health/", headers=tenant.read)).json()["freshness"]
    assert fresh == {
        "sla_seconds": 3600,
        "last_delivery_at": "2026-04-20T08:50:00Z",
        "late": True,
        "late_by_seconds": 2 * 3600 + 600,
    }

    assert (await client.patch(url, json={"state": "paused"}, headers=tenant.write)).status_code == 200
    body = (await client.get(url + "health/", headers=tenant.read)).json()
    assert body["freshness"]["late"] is False
    assert body["freshness"]["late_by_seconds"] == 0
    assert body["reason"]["code"] == "paused"


async def test_health__last_hour_far_below_the_same_hour_last_week__volume_drop(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))
    hour = NOW - HOUR  # 11:00, the latest complete hour
    for day in range(1, 8):
        await push(
            client, url, service_key, ok(day, hour - timedelta(days=day) + timedelta(minutes=30), 1000 + day)
        )
    await push(client, url, service_key, ok(0, hour + timedelta(minutes=30), 90))

    volume = (await client.get(url + "health/", headers=tenant.read)).json()["volume"]

    assert volume == {
        "hour": "2026-04-20T11:00:00Z",
        "actual": 90,
        "expected": 1004.0,
        "lower": 753.0,
        "upper": 1255.0,
        "verdict": "drop",
        "baseline": "ok",
        "baseline_hours": 7,
    }


async def test_health__four_baseline_hours_and_an_orphan__insufficient_then_enough(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))
    hour = NOW - HOUR
    for day in range(1, 5):
        await push(client, url, service_key, ok(day, hour - timedelta(days=day) + timedelta(minutes=10), 50))

    volume = (await client.get(url + "health/", headers=tenant.read)).json()["volume"]
    assert volume["baseline"] == "insufficient"
    assert volume["baseline_hours"] == 4
    assert volume["verdict"] is None
    assert volume["expected"] is None

    # An orphan finishing in the same hour five days ago is a finished run too (0 events).
    await push(client, url, service_key, Run(id="lost", started_at=hour - timedelta(days=5)))
    volume = (await client.get(url + "health/", headers=tenant.read)).json()["volume"]
    assert volume["baseline"] == "ok"
    assert volume["baseline_hours"] == 5
    assert volume["expected"] == 50.0
    assert volume["verdict"] == "drop"


async def test_connection__freshness_sla_seconds__created_read_updated_and_cleared(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    conn = await create_connection(client, tenant, freshness_sla_seconds=900)
    url = tenant.connection_url(conn)
    assert (await client.get(url, headers=tenant.read)).json()["freshness_sla_seconds"] == 900

    changed = await client.patch(url, json={"freshness_sla_seconds": 7200}, headers=tenant.write)
    assert changed.json()["freshness_sla_seconds"] == 7200
    untouched = await client.patch(url, json={"name": "renamed"}, headers=tenant.write)
    assert untouched.json()["freshness_sla_seconds"] == 7200
    cleared = await client.patch(url, json={"freshness_sla_seconds": None}, headers=tenant.write)
    assert cleared.json()["freshness_sla_seconds"] is None

    default = await create_connection(client, tenant)
    assert (await client.get(tenant.connection_url(default), headers=tenant.read)).json()[
        "freshness_sla_seconds"
    ] is None


async def test_connection__freshness_sla_below_a_minute__422_nothing_written(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        tenant.connections_url(),
        json={"name": "w", "type": "duckdb", "freshness_sla_seconds": 59},
        headers=tenant.write,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "freshness_sla_seconds"]
    listing = await client.get(tenant.connections_url(), headers=tenant.read)
    assert listing.json()["total"] == 0


async def test_health__flaky_for_six_days__degraded_since_its_first_failure(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))
    first = NOW - timedelta(days=6)
    first_failure = None
    for i in range(6 * 24 * 3):
        at = first + timedelta(minutes=20 * i, seconds=7)
        if i % 15 == 4:
            first_failure = first_failure or at
            await push(client, url, service_key, failed(i, at, "timeout"))
        else:
            await push(client, url, service_key, ok(i, at))

    body = (await client.get(url + "health/", headers=tenant.read)).json()

    assert body["status"] == "degraded"
    assert body["reason"]["code"] == "failing_runs_24h"
    assert parse(body["since"]) == first_failure
    assert body["open_incident"] is None
