"""Run ingest (SPEC §4.2): seeding, reporting, pushing, reading — each report counted once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx

from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher
from tests.conftest import FrozenClock, Tenant, iso

REPORT = {"completed_at": None, "events_delivered": 150, "batches_dlq": 0, "error": None}


def report(clock: FrozenClock, **overrides: Any) -> dict[str, Any]:
    return {**REPORT, "completed_at": iso(clock.now - timedelta(minutes=1)), **overrides}


async def seed(client: httpx.AsyncClient, runs_url: str, key: dict[str, str], clock: FrozenClock) -> str:
    response = await client.post(
        runs_url, json={"started_at": iso(clock.now - timedelta(minutes=2))}, headers=key
    )
    assert response.status_code == 201, response.text
    assert response.json()["outcome"] == "pending"
    run_id: str = response.json()["id"]
    return run_id


async def totals(client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = (
        await client.get(tenant.connection_url(connection["id"]) + "telemetry/", headers=tenant.read)
    ).json()
    return body


async def test_report__pending_run__204_and_counted(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    run_id = await seed(client, runs_url, service_key, clock)
    response = await client.patch(f"{runs_url}{run_id}/", json=report(clock), headers=service_key)
    assert response.status_code == 204
    assert response.content == b""
    run = (await client.get(f"{runs_url}{run_id}/", headers=tenant.read)).json()
    assert run["outcome"] == "succeeded"
    assert run["events_delivered"] == 150
    assert run["duration_ms"] == 60_000
    body = await totals(client, tenant, connection)
    assert body["events_last_24h"] == {"evaluations": 0, "custom_events": 0, "other": 150, "total": 150}
    assert body["status"] == "active"


async def test_report__identical_repeat__204_noop_counted_once(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    run_id = await seed(client, runs_url, service_key, clock)
    body = report(clock, events_by_type={"evaluations": 100, "custom_events": 50})
    for _ in range(3):
        response = await client.patch(f"{runs_url}{run_id}/", json=body, headers=service_key)
        assert response.status_code == 204
    telemetry = await totals(client, tenant, connection)
    assert telemetry["events_last_24h"] == {"evaluations": 100, "custom_events": 50, "total": 150}


async def test_report__different_report_for_completed_run__409_and_nothing_changes(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    run_id = await seed(client, runs_url, service_key, clock)
    await client.patch(f"{runs_url}{run_id}/", json=report(clock), headers=service_key)
    response = await client.patch(
        f"{runs_url}{run_id}/", json=report(clock, events_delivered=999), headers=service_key
    )
    assert response.status_code == 409
    assert "different report" in response.json()["detail"]
    run = (await client.get(f"{runs_url}{run_id}/", headers=tenant.read)).json()
    assert run["events_delivered"] == 150
    assert (await totals(client, tenant, connection))["events_last_24h"]["total"] == 150


async def test_report__unknown_run__404(
    client: httpx.AsyncClient, runs_url: str, service_key: dict[str, str], clock: FrozenClock
) -> None:
    response = await client.patch(f"{runs_url}nope/", json=report(clock), headers=service_key)
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


async def test_report__run_of_another_connection__404_and_untouched(
    client: httpx.AsyncClient, tenant: Tenant, runs_url: str, service_key: dict[str, str], clock: FrozenClock
) -> None:
    run_id = await seed(client, runs_url, service_key, clock)
    other = await client.post(
        tenant.connections_url(), json={"name": "other", "type": "bigquery"}, headers=tenant.write
    )
    other_runs = tenant.connection_url(other.json()["id"]) + "metrics/"
    response = await client.patch(f"{other_runs}{run_id}/", json=report(clock), headers=service_key)
    assert response.status_code == 404
    run = (await client.get(f"{runs_url}{run_id}/", headers=tenant.read)).json()
    assert run["outcome"] == "pending"


async def test_report__late_report_for_orphan__completes_and_replaces_orphan(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    run_id = await seed(client, runs_url, service_key, clock)
    clock.advance(minutes=30)
    orphan = await totals(client, tenant, connection)
    assert orphan["status"] == "error"
    assert orphan["recent_errors"][0]["message"] == "loader did not report back within 15 minutes"
    response = await client.patch(f"{runs_url}{run_id}/", json=report(clock), headers=service_key)
    assert response.status_code == 204
    after = await totals(client, tenant, connection)
    assert after["status"] == "active"
    assert after["recent_errors"] == []
    assert after["failed_deliveries_last_24h"] == 0


async def test_report__late_report_for_orphan_stored_by_scheduler__204_and_replaces_orphan(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
    settings: Settings,
) -> None:
    # The scheduler seeds the run, then a tick past its window stores it as orphaned.
    await runner.tick(db, settings, NoDispatcher(), clock.now)
    [seeded] = (await client.get(runs_url, headers=tenant.read)).json()["items"]
    clock.advance(minutes=20)
    swept = await runner.tick(db, settings, NoDispatcher(), clock.now)
    assert swept.orphaned == 1
    orphan = await totals(client, tenant, connection)
    assert (orphan["status"], orphan["failed_deliveries_last_24h"]) == ("error", 1)

    response = await client.patch(
        f"{runs_url}{seeded['id']}/",
        json=report(clock, events_by_type={"evaluations": 150, "custom_events": 0}),
        headers=service_key,
    )

    assert response.status_code == 204, response.text
    run = (await client.get(f"{runs_url}{seeded['id']}/", headers=tenant.read)).json()
    assert (run["outcome"], run["events_delivered"], run["message"]) == ("succeeded", 150, None)
    after = await totals(client, tenant, connection)
    assert after["status"] == "active"
    assert after["recent_errors"] == []
    assert after["failed_deliveries_last_24h"] == 0
    assert after["events_last_24h"] == {"evaluations": 150, "custom_events": 0, "total": 150}
    # The same report again is still the idempotent no-op.
    again = await client.patch(
        f"{runs_url}{seeded['id']}/",
        json=report(clock, events_by_type={"evaluations": 150, "custom_events": 0}),
        headers=service_key,
    )
    assert again.status_code == 204


async def test_report__long_error__kept_cut_to_2000(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    run_id = await seed(client, runs_url, service_key, clock)
    response = await client.patch(
        f"{runs_url}{run_id}/", json=report(clock, events_delivered=0, error="x" * 5000), headers=service_key
    )
    assert response.status_code == 204
    run = (await client.get(f"{runs_url}{run_id}/", headers=tenant.read)).json()
    assert run["outcome"] == "failed"
    assert run["error"] == "x" * 2000
    assert (await totals(client, tenant, connection))["recent_errors"][0]["message"] == "x" * 2000


async def test_push__finished_run_with_client_key__201_then_repeat_200_then_different_409(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    body = {
        "run_id": "batch-2026-04-20-11",
        "started_at": iso(clock.now - timedelta(minutes=5)),
        **report(clock, batches_dlq=2),
    }
    first = await client.post(runs_url, json=body, headers=service_key)
    assert first.status_code == 201
    assert first.json()["outcome"] == "partial"
    assert first.json()["message"] == "2 batches moved to the dead-letter queue"
    again = await client.post(runs_url, json=body, headers=service_key)
    assert again.status_code == 200
    assert again.json() == first.json()
    different = await client.post(runs_url, json={**body, "batches_dlq": 3}, headers=service_key)
    assert different.status_code == 409
    telemetry = await totals(client, tenant, connection)
    assert telemetry["failed_deliveries_last_24h"] == 2
    assert telemetry["events_last_24h"]["total"] == 150


async def test_push__seed_repeated_after_completion__200_unchanged(
    client: httpx.AsyncClient, tenant: Tenant, runs_url: str, service_key: dict[str, str], clock: FrozenClock
) -> None:
    seed_body = {"run_id": "r1", "started_at": iso(clock.now - timedelta(minutes=3))}
    assert (await client.post(runs_url, json=seed_body, headers=service_key)).status_code == 201
    await client.patch(f"{runs_url}r1/", json=report(clock), headers=service_key)
    again = await client.post(runs_url, json=seed_body, headers=service_key)
    assert again.status_code == 200
    assert again.json()["outcome"] == "succeeded"
    moved = await client.post(
        runs_url, json={**seed_body, "started_at": iso(clock.now - timedelta(minutes=9))}, headers=service_key
    )
    assert moved.status_code == 409


async def test_list_runs__pages_and_outcome_filter__newest_first(
    client: httpx.AsyncClient, tenant: Tenant, runs_url: str, service_key: dict[str, str], clock: FrozenClock
) -> None:
    for i, (error, dlq) in enumerate([(None, 0), ("boom", 0), (None, 4), (None, 0)]):
        started = clock.now - timedelta(hours=4 - i)
        await client.post(
            runs_url,
            json={
                "run_id": f"r{i}",
                "started_at": iso(started),
                **report(clock, completed_at=iso(started), error=error, batches_dlq=dlq),
            },
            headers=service_key,
        )
    await client.post(runs_url, json={"run_id": "p", "started_at": iso(clock.now)}, headers=service_key)
    await client.post(
        runs_url, json={"run_id": "o", "started_at": iso(clock.now - timedelta(hours=5))}, headers=service_key
    )

    page1 = (await client.get(runs_url, params={"size": 2}, headers=tenant.read)).json()
    assert [r["id"] for r in page1["items"]] == ["p", "r3"]
    assert (page1["total"], page1["has_next"]) == (6, True)
    page3 = (await client.get(runs_url, params={"size": 2, "page": 3}, headers=tenant.read)).json()
    assert [r["id"] for r in page3["items"]] == ["r0", "o"]
    assert page3["has_next"] is False

    def ids(outcome: str) -> list[str]:
        return [r["id"] for r in by_outcome[outcome]]

    by_outcome = {}
    for outcome in ("succeeded", "failed", "partial", "pending", "orphaned"):
        response = await client.get(runs_url, params={"outcome": outcome}, headers=tenant.read)
        assert response.status_code == 200
        by_outcome[outcome] = response.json()["items"]
    assert ids("succeeded") == ["r3", "r0"]
    assert ids("failed") == ["r1"]
    assert ids("partial") == ["r2"]
    assert ids("pending") == ["p"]
    assert ids("orphaned") == ["o"]
    assert by_outcome["failed"][0]["message"] == "boom"


async def test_runs__wrong_credential_kind__403(
    client: httpx.AsyncClient, tenant: Tenant, runs_url: str, service_key: dict[str, str], clock: FrozenClock
) -> None:
    body = {"started_at": iso(clock.now)}
    assert (await client.post(runs_url, json=body, headers=tenant.write)).status_code == 403
    assert (await client.get(runs_url, headers=service_key)).status_code == 403
    listed = (await client.get(runs_url, headers=tenant.read)).json()
    assert listed["total"] == 0


async def test_runs__failing_runs__error_fingerprint_and_template(
    client: httpx.AsyncClient, tenant: Tenant, runs_url: str, service_key: dict[str, str], clock: FrozenClock
) -> None:
    for run_id, host, ms in (("a", "db-7", 30012), ("b", "db-9", 30001)):
        body = {
            "run_id": run_id,
            "started_at": iso(clock.now - timedelta(minutes=5)),
            **report(clock, error=f"connection refused to {host}.internal:5432 after {ms} ms"),
        }
        assert (await client.post(runs_url, json=body, headers=service_key)).status_code == 201
    other = {
        "run_id": "c",
        "started_at": iso(clock.now - timedelta(minutes=4)),
        **report(clock, error="disk full"),
    }
    await client.post(runs_url, json=other, headers=service_key)
    ok = {"run_id": "d", "started_at": iso(clock.now - timedelta(minutes=3)), **report(clock)}
    await client.post(runs_url, json=ok, headers=service_key)

    items = {r["id"]: r for r in (await client.get(runs_url, headers=tenant.read)).json()["items"]}
    assert items["a"]["error_template"] == "connection refused to <host>:<n> after <n> ms"
    assert items["a"]["error_fingerprint"] == items["b"]["error_fingerprint"]
    assert items["c"]["error_fingerprint"] not in (None, items["a"]["error_fingerprint"])
    assert (items["d"]["error_fingerprint"], items["d"]["error_template"]) == (None, None)


async def test_runs__same_run_id_on_two_connections__each_connection_reads_and_repeats_its_own(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    # Run ids are the loader's own keys: two connections may well use the same one.
    others = []
    for name in ("second", "third"):
        created = await client.post(
            tenant.connections_url(), json={"name": name, "type": "bigquery"}, headers=tenant.write
        )
        assert created.status_code == 201, created.text
        others.append(tenant.connection_url(created.json()["id"]) + "metrics/")
    second_runs, third_runs = others
    pushed = {"run_id": "nightly", "started_at": iso(clock.now - timedelta(minutes=3)), **report(clock)}
    assert (await client.post(runs_url, json=pushed, headers=service_key)).status_code == 201
    seed_body = {"run_id": "nightly", "started_at": iso(clock.now - timedelta(minutes=9))}

    seeded = await client.post(second_runs, json=seed_body, headers=service_key)
    repeated = await client.post(second_runs, json=seed_body, headers=service_key)

    assert seeded.status_code == 201, seeded.text
    assert (seeded.json()["connection_id"], seeded.json()["outcome"]) == (
        second_runs.split("/")[-3],
        "pending",
    )
    assert datetime.fromisoformat(seeded.json()["started_at"]) == clock.now - timedelta(minutes=9)
    assert repeated.status_code == 200
    assert repeated.json() == seeded.json()
    first = (await client.get(f"{runs_url}nightly/", headers=tenant.read)).json()
    assert (first["connection_id"], first["outcome"]) == (connection["id"], "succeeded")
    assert (await client.get(f"{second_runs}nightly/", headers=tenant.read)).json() == seeded.json()
    missing = await client.get(f"{third_runs}nightly/", headers=tenant.read)
    assert missing.status_code == 404
    assert "not found" in missing.json()["detail"]


async def test_list_runs__runs_sharing_a_start__newest_first_then_by_id_on_every_page(
    client: httpx.AsyncClient, tenant: Tenant, runs_url: str, service_key: dict[str, str], clock: FrozenClock
) -> None:
    same = clock.now - timedelta(hours=1)
    starts = {
        "b": same,
        "d": same,
        "a": same,
        "newest": clock.now - timedelta(minutes=30),
        "c": same,
        "e": same,
    }
    starts["oldest"] = same - timedelta(microseconds=1)
    for run_id, started in starts.items():  # arriving in neither the list's order nor the ids'
        body = {"run_id": run_id, "started_at": iso(started), **report(clock)}
        assert (await client.post(runs_url, json=body, headers=service_key)).status_code == 201

    pages = [
        (await client.get(runs_url, params={"size": 2, "page": n}, headers=tenant.read)).json()
        for n in (1, 2, 3, 4)
    ]

    assert [[r["id"] for r in p["items"]] for p in pages] == [
        ["newest", "e"],
        ["d", "c"],
        ["b", "a"],
        ["oldest"],
    ]
    assert [p["total"] for p in pages] == [7, 7, 7, 7]


async def test_report__burst_by_a_key_never_seen__every_run_completed_once(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
) -> None:
    """Three times the pool of reports at once by a service key not yet cached: no request may
    hold one pooled connection while it waits for another, or the burst waits on itself; each
    report is counted once, and its repeat is a no-op."""
    size = db.engine.pool.size() if hasattr(db.engine.pool, "size") else 10
    run_ids = [await seed(client, runs_url, service_key, clock) for _ in range(3 * size)]
    async with db.session(write=True) as session:
        issued = await auth_service.create_service_key(session, name="burst", now=clock.now)
    fresh = {"Authorization": f"Bearer {issued.key}"}

    responses = await asyncio.wait_for(
        asyncio.gather(
            *(client.patch(f"{runs_url}{r}/", json=report(clock), headers=fresh) for r in run_ids)
        ),
        timeout=60,
    )

    assert [r.status_code for r in responses] == [204] * len(run_ids)
    body = await totals(client, tenant, connection)
    assert body["events_last_24h"]["total"] == 150 * len(run_ids)
    again = await client.patch(f"{runs_url}{run_ids[0]}/", json=report(clock), headers=fresh)
    assert again.status_code == 204  # the identical report repeated: still counted once
    assert (await totals(client, tenant, connection))["events_last_24h"]["total"] == 150 * len(run_ids)
