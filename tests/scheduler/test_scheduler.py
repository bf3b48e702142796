"""SPEC §2: the recurring fan-out, orphan sweep, invocation failures, several schedulers at once."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import HttpDispatcher, NoDispatcher
from pipepulse.scheduler.jobs import SeededRun
from pipepulse.wire.invocation_signature import InvalidSignature, verify
from pipepulse.wire.invocation_signature import expected_signature as sign
from tests.conftest import FrozenClock, Tenant, iso
from tests.scheduler.conftest import LoaderEndpoint


async def make_connection(client: httpx.AsyncClient, tenant: Tenant, state: str, interval: int = 600) -> str:
    response = await client.post(
        tenant.connections_url(),
        json={"name": state, "type": "duckdb", "state": state, "schedule_interval_seconds": interval},
        headers=tenant.write,
    )
    assert response.status_code == 201
    connection_id: str = response.json()["id"]
    return connection_id


async def runs_of(client: httpx.AsyncClient, tenant: Tenant, connection_id: str) -> list[dict[str, Any]]:
    body = (await client.get(tenant.connection_url(connection_id) + "metrics/", headers=tenant.read)).json()
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_tick__due_connections_in_connected_or_error__seeded_once_per_interval(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    states = ["connected", "error", "paused", "pending_customer_setup", "rotating"]
    ids = {state: await make_connection(client, tenant, state) for state in states}

    first = await runner.tick(db, settings, NoDispatcher(), clock.now)
    assert first.seeded == 2
    for state, connection_id in ids.items():
        runs = await runs_of(client, tenant, connection_id)
        expected = 1 if state in ("connected", "error") else 0
        assert len(runs) == expected, state
        if expected:
            assert runs[0]["started_at"] == iso(clock.now).replace(".000000Z", "Z")
            assert runs[0]["outcome"] == "pending"

    clock.advance(seconds=599)
    assert (await runner.tick(db, settings, NoDispatcher(), clock.now)).seeded == 0
    clock.advance(seconds=1)
    assert (await runner.tick(db, settings, NoDispatcher(), clock.now)).seeded == 2
    assert len(await runs_of(client, tenant, ids["connected"])) == 2


async def test_tick__connection_with_recent_pushed_run__not_due(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    service_key: dict[str, str],
) -> None:
    connection_id = await make_connection(client, tenant, "connected")
    pushed = await client.post(
        tenant.connection_url(connection_id) + "metrics/",
        json={"started_at": iso(clock.now - timedelta(minutes=5))},
        headers=service_key,
    )
    assert pushed.status_code == 201
    assert (await runner.tick(db, settings, NoDispatcher(), clock.now)).seeded == 0
    clock.advance(minutes=5)
    assert (await runner.tick(db, settings, NoDispatcher(), clock.now)).seeded == 1


async def test_tick__pending_run_past_window__stored_as_orphaned(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    connection_id = await make_connection(client, tenant, "connected", interval=3600)
    await runner.tick(db, settings, NoDispatcher(), clock.now)
    clock.advance(minutes=15)
    result = await runner.tick(db, settings, NoDispatcher(), clock.now)
    assert result.orphaned == 1
    runs = await runs_of(client, tenant, connection_id)
    assert [r["outcome"] for r in runs] == ["orphaned"]
    telemetry = (
        await client.get(tenant.connection_url(connection_id) + "telemetry/", headers=tenant.read)
    ).json()
    assert telemetry["status"] == "error"
    assert telemetry["recent_errors"][0]["message"] == "loader did not report back within 15 minutes"


class _Flaky:
    """A dispatcher whose invocation fails for one connection only."""

    def __init__(self, failing: str) -> None:
        self.failing = failing
        self.invoked: list[str] = []

    async def dispatch(self, run: SeededRun) -> None:
        if run.connection_id == self.failing:
            raise RuntimeError("loader endpoint exploded")
        self.invoked.append(run.connection_id)

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_tick__one_invocation_fails__that_run_failed_rest_invoked(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    ids = [await make_connection(client, tenant, "connected") for _ in range(4)]
    dispatcher = _Flaky(failing=ids[1])
    result = await runner.tick(db, settings, dispatcher, clock.now)
    assert (result.seeded, result.dispatch_failures) == (4, 1)
    assert sorted(dispatcher.invoked) == sorted(ids[:1] + ids[2:])
    failed = await runs_of(client, tenant, ids[1])
    assert failed[0]["outcome"] == "failed"
    assert "loader endpoint exploded" in failed[0]["error"]
    for other in ids[:1] + ids[2:]:
        assert (await runs_of(client, tenant, other))[0]["outcome"] == "pending"


async def test_tick__many_schedulers_at_once__one_run_per_connection(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    ids = [await make_connection(client, tenant, "connected") for _ in range(25)]
    results = await asyncio.gather(
        *[runner.tick(db, settings, NoDispatcher(), clock.now, ident=f"s{i}") for i in range(6)]
    )
    assert sum(r.seeded for r in results) == 25
    for connection_id in ids:
        assert len(await runs_of(client, tenant, connection_id)) == 1


async def test_tick__heartbeat__readyz_reports_scheduler(
    client: httpx.AsyncClient, app: Any, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    app.state.require_scheduler = True
    before = await client.get("/readyz")
    assert before.status_code == 503
    assert before.json()["checks"]["scheduler"] == "no heartbeat yet"
    await runner.tick(db, settings, NoDispatcher(), clock.now)
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "scheduler": "ok"}
    clock.advance(minutes=10)
    stale = await client.get("/readyz")
    assert stale.status_code == 503
    assert stale.json()["checks"]["scheduler"].startswith("stale")


async def test_http_dispatcher__invokes_loader__payload_signed_with_hmac(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    loader_endpoint: tuple[str, type[LoaderEndpoint]],
) -> None:
    url, endpoint = loader_endpoint
    connection_id = await make_connection(client, tenant, "connected")
    dispatcher = HttpDispatcher(url, "s3cret")
    result = await runner.tick(db, settings, dispatcher, clock.now)
    await dispatcher.close()
    assert result.dispatch_failures == 0
    [(headers, body)] = endpoint.received
    payload = json.loads(body)
    run = (await runs_of(client, tenant, connection_id))[0]
    assert payload == {"run_id": run["id"], "connection_id": connection_id, "organisation_id": tenant.id}
    assert headers["x-pipepulse-signature"] == sign("s3cret", headers["x-pipepulse-timestamp"], body)


async def test_http_dispatcher__loader_answers_500__run_failed_with_reason(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    loader_endpoint: tuple[str, type[LoaderEndpoint]],
) -> None:
    url, endpoint = loader_endpoint
    endpoint.status = 500
    connection_id = await make_connection(client, tenant, "connected")
    dispatcher = HttpDispatcher(url, "s3cret")
    result = await runner.tick(db, settings, dispatcher, clock.now)
    await dispatcher.close()
    assert result.dispatch_failures == 1
    run = (await runs_of(client, tenant, connection_id))[0]
    assert run["outcome"] == "failed"
    assert run["error"] == f"loader invocation failed: HTTP 500 from {url}"


async def test_invocations_metric__accepted_refused_and_none__counted_by_outcome(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    clock: FrozenClock,
    loader_endpoint: tuple[str, type[LoaderEndpoint]],
) -> None:
    """An operator reads `pipepulse_scheduler_invocations_total{outcome}` to see loaders being
    invoked and refusing; the "none" dispatcher invokes nothing and counts nothing."""
    url, endpoint = loader_endpoint
    await make_connection(client, tenant, "connected")
    await make_connection(client, tenant, "connected")
    metrics = runner.SchedulerMetrics()
    value = metrics.registry.get_sample_value

    async def seed(dispatcher: HttpDispatcher | NoDispatcher) -> None:
        _, fan_outs = await runner.seed_pass(db, dispatcher, clock.now, asyncio.Semaphore(4), metrics)
        await asyncio.gather(*fan_outs)
        await dispatcher.close()

    await seed(HttpDispatcher(url, "s3cret"))
    assert value("pipepulse_scheduler_invocations_total", {"outcome": "sent"}) == 2
    assert value("pipepulse_scheduler_invocations_total", {"outcome": "failed"}) is None

    endpoint.status = 503
    clock.advance(minutes=10)
    await seed(HttpDispatcher(url, "s3cret"))
    assert value("pipepulse_scheduler_invocations_total", {"outcome": "sent"}) == 2
    assert value("pipepulse_scheduler_invocations_total", {"outcome": "failed"}) == 2

    clock.advance(minutes=10)
    await seed(NoDispatcher())
    assert value("pipepulse_scheduler_invocations_total", {"outcome": "sent"}) == 2
    assert value("pipepulse_scheduler_invocations_total", {"outcome": "failed"}) == 2
    assert len(endpoint.received) == 4


def test_signature__dispatcher_signed_request__verified_by_loader_helper() -> None:
    body = b'{"run_id":"r","connection_id":"wc_1","organisation_id":1}'
    headers = {
        "X-Pipepulse-Timestamp": "1700000000",
        "X-Pipepulse-Signature": sign("s3cret", "1700000000", body),
    }
    verify("s3cret", headers, body, now=1_700_000_100)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify("other", headers, body, now=1_700_000_100)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify("s3cret", headers, body + b" ", now=1_700_000_100)
    with pytest.raises(InvalidSignature, match="away from now"):
        verify("s3cret", headers, body, now=1_700_000_000 + 301)
    with pytest.raises(InvalidSignature, match="missing"):
        verify("s3cret", {}, body, now=1_700_000_000)
