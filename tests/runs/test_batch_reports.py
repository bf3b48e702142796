"""Batch reports (SPEC §4.7): each item judged exactly as the single PATCH would judge it."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pipepulse.db.models import ConnectionRunTimes, EventHourlyRollup, Run, RunDailyRollup, RunHourlyRollup
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant, iso, make_tenant

BATCH_URL = "/api/v1/runs/reports/"
_serial = itertools.count()


async def seed(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection_id: str,
    key: dict[str, str],
    run_id: str,
    started: Any,
) -> None:
    response = await client.post(
        tenant.connection_url(connection_id) + "metrics/",
        json={"run_id": run_id, "started_at": iso(started)},
        headers=key,
    )
    assert response.status_code == 201, response.text


def item(tenant: Tenant, connection_id: str, run_id: str, clock: FrozenClock, **body: Any) -> dict[str, Any]:
    return {
        "organisation_id": tenant.id,
        "connection_id": connection_id,
        "run_id": run_id,
        "completed_at": iso(clock.now - timedelta(minutes=1)),
        "events_delivered": 10,
        "batches_dlq": 0,
        "error": None,
        **body,
    }


def body_only(batch_item: dict[str, Any]) -> dict[str, Any]:
    """The PATCH body of a batch item."""
    return {k: v for k, v in batch_item.items() if k not in ("organisation_id", "connection_id", "run_id")}


async def test_batch__pending_runs__each_204_and_counted_once(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    cid = connection["id"]
    for i in range(3):
        await seed(client, tenant, cid, service_key, f"r{i}", clock.now - timedelta(minutes=5))
    typed = {"evaluations": 6, "custom_events": 4}
    items = [item(tenant, cid, f"r{i}", clock, events_by_type=typed) for i in range(3)]
    response = await client.post(BATCH_URL, json=items, headers=service_key)
    assert response.status_code == 200, response.text
    assert response.json() == {"results": [{"index": i, "status": 204} for i in range(3)]}
    # Sent again: identical repeats, still counted once.
    again = await client.post(BATCH_URL, json=items, headers=service_key)
    assert [r["status"] for r in again.json()["results"]] == [204, 204, 204]
    telemetry = (await client.get(tenant.connection_url(cid) + "telemetry/", headers=tenant.read)).json()
    assert telemetry["events_last_24h"] == {"evaluations": 18, "custom_events": 12, "total": 30}


async def test_batch__mixed_items__results_in_order_as_single_calls_would_answer(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    connection: dict[str, Any],
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    cid = connection["id"]
    for run_id in ("done", "fresh", "late"):
        await seed(client, tenant, cid, service_key, run_id, clock.now - timedelta(minutes=5))
    await client.patch(
        tenant.connection_url(cid) + "metrics/done/",
        json=body_only(item(tenant, cid, "done", clock)),
        headers=service_key,
    )
    items = [
        item(tenant, cid, "done", clock),  # identical repeat
        item(tenant, cid, "done", clock, events_delivered=11),  # a different report
        item(tenant, cid, "missing", clock),  # unknown run
        item(other_tenant, cid, "fresh", clock),  # the connection is not the other organisation's
        item(tenant, cid, "fresh", clock, events_delivered=-1),  # malformed
        item(tenant, cid, "fresh", clock, events_by_type={"pageviews": 10}),  # unknown event type
        item(tenant, cid, "late", clock, completed_at=iso(clock.now - timedelta(minutes=9))),  # before start
        item(tenant, cid, "fresh", clock, completed_at=iso(clock.now + timedelta(minutes=6))),  # future
        "not an object",
        item(tenant, cid, "fresh", clock),  # finally applied
    ]
    response = await client.post(BATCH_URL, json=items, headers=service_key)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == [204, 409, 404, 404, 422, 422, 422, 422, 422, 204]
    assert "different report" in results[1]["detail"]
    assert results[2]["detail"] == "run 'missing' not found for this connection"
    assert results[3]["detail"] == "warehouse connection not found"
    assert results[4]["detail"][0]["loc"] == ["body", 4, "events_delivered"]
    assert results[5]["detail"][0]["loc"] == ["body", 5, "events_by_type"]
    assert "pageviews" in results[5]["detail"][0]["msg"]
    assert "before the run's started_at" in results[6]["detail"][0]["msg"]
    assert "in the future" in results[7]["detail"][0]["msg"]
    assert results[8]["detail"][0]["loc"] == ["body", 8]
    assert "detail" not in results[9]
    telemetry = (await client.get(tenant.connection_url(cid) + "telemetry/", headers=tenant.read)).json()
    assert telemetry["events_last_24h"]["total"] == 20


async def test_batch__same_run_twice__first_applied_then_repeat_or_conflict(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    cid = connection["id"]
    for run_id in ("a", "b"):
        await seed(client, tenant, cid, service_key, run_id, clock.now - timedelta(minutes=5))
    items = [
        item(tenant, cid, "a", clock),
        item(tenant, cid, "a", clock),
        item(tenant, cid, "b", clock, completed_at=iso(clock.now - timedelta(minutes=9))),  # 422: too early
        item(tenant, cid, "b", clock, events_delivered=3),  # applies: the first one did not
        item(tenant, cid, "b", clock, events_delivered=4),  # 409
    ]
    results = (await client.post(BATCH_URL, json=items, headers=service_key)).json()["results"]
    assert [r["status"] for r in results] == [204, 204, 422, 204, 409]
    telemetry = (await client.get(tenant.connection_url(cid) + "telemetry/", headers=tenant.read)).json()
    assert telemetry["events_last_24h"]["total"] == 13


async def test_batch__malformed_envelope__422_and_nothing_written(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    cid = connection["id"]
    await seed(client, tenant, cid, service_key, "r", clock.now - timedelta(minutes=5))
    one = item(tenant, cid, "r", clock)
    for body in ({"reports": [one]}, one, [one] * 1001, "[]"):
        response = await client.post(BATCH_URL, json=body, headers=service_key)
        assert response.status_code == 422, body
        assert isinstance(response.json()["detail"], list)
    run = (await client.get(tenant.connection_url(cid) + "metrics/r/", headers=tenant.read)).json()
    assert run["outcome"] == "pending"
    empty = await client.post(BATCH_URL, json=[], headers=service_key)
    assert empty.json() == {"results": []}


async def test_batch__user_token_or_no_token__refused(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any], clock: FrozenClock
) -> None:
    items = [item(tenant, connection["id"], "r", clock)]
    assert (await client.post(BATCH_URL, json=items, headers=tenant.write)).status_code == 403
    response = await client.post(BATCH_URL, json=items)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_batch__racing_batches_and_patches__each_run_counted_once(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    cid = connection["id"]
    for i in range(6):
        await seed(client, tenant, cid, service_key, f"r{i}", clock.now - timedelta(minutes=5))
    items = [item(tenant, cid, f"r{i}", clock) for i in range(6)]
    body = body_only(items[0])
    calls = [
        client.post(BATCH_URL, json=items[::-1] if n % 2 else items, headers=service_key) for n in range(8)
    ]
    calls += [
        client.patch(tenant.connection_url(cid) + f"metrics/r{n % 6}/", json=body, headers=service_key)
        for n in range(12)
    ]
    responses = await asyncio.gather(*calls)
    for response in responses[:8]:
        assert [r["status"] for r in response.json()["results"]] == [204] * 6
    assert {r.status_code for r in responses[8:]} == {204}
    telemetry = (await client.get(tenant.connection_url(cid) + "telemetry/", headers=tenant.read)).json()
    assert telemetry["events_last_24h"]["total"] == 60


# --- A batch equals the same reports sent one by one -------------------------------------------

report_spec = st.fixed_dictionaries(
    {
        "connection": st.integers(0, 1),
        "run": st.integers(0, 5),  # 5 is never seeded: 404
        "minutes": st.sampled_from([-9, -1, -1, 0, 3, 7]),  # before the start, in time, ahead, too far ahead
        "events": st.integers(0, 30),
        "typed": st.sampled_from(["none", "split", "unknown", "zero"]),
        "dlq": st.sampled_from([0, 0, 2]),
        "error": st.sampled_from([None, None, "boom", "   "]),
        "pending": st.one_of(st.none(), st.integers(0, 9)),
        "latency": st.one_of(st.none(), st.integers(0, 900)),
        "bad": st.booleans() | st.just(False),
    }
)


def body_of(spec: dict[str, Any], clock: FrozenClock) -> dict[str, Any]:
    events = spec["events"]
    body: dict[str, Any] = {
        "completed_at": iso(clock.now + timedelta(minutes=spec["minutes"])),
        "events_delivered": -1 if spec["bad"] and events % 3 == 0 else events,
        "batches_dlq": spec["dlq"],
        "error": spec["error"],
    }
    if spec["typed"] == "split":
        body["events_by_type"] = {"evaluations": events // 2, "custom_events": events - events // 2}
    elif spec["typed"] == "unknown":
        body["events_by_type"] = {"pageviews": events}
    elif spec["typed"] == "zero":
        body["events_by_type"] = {"evaluations": events, "custom_events": 0}
    for field, key in (("events_pending", "pending"), ("latency_ms", "latency")):
        if spec[key] is not None:
            body[field] = spec[key]
    return body


async def _stored(db: Database, organisation_id: int, names: dict[str, str]) -> dict[str, list[Any]]:
    """Every row the reports could have written, with connection ids made comparable."""
    out: dict[str, list[Any]] = {}
    async with db.session() as session:
        for table in (Run, RunHourlyRollup, EventHourlyRollup, RunDailyRollup, ConnectionRunTimes):
            query = select(table).where(table.organisation_id == organisation_id)
            rows = (await session.scalars(query)).all()
            columns = [
                c.key for c in table.__table__.columns if c.key not in ("organisation_id", "created_at")
            ]
            out[table.__tablename__] = sorted(
                tuple(
                    names.get(getattr(row, c), "") if c == "connection_id" else getattr(row, c)
                    for c in columns
                )
                for row in rows
            )
    return out


@settings(
    max_examples=int(__import__("os").environ.get("PROP_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(report_spec, min_size=1, max_size=12))
async def test_batch__random_reports__same_verdicts_rows_and_rollups_as_one_by_one(
    client: httpx.AsyncClient,
    db: Database,
    clock: FrozenClock,
    service_key: dict[str, str],
    specs: list[dict[str, Any]],
) -> None:
    serial = next(_serial)
    tenants, names, connections = [], {}, []
    for side in ("batch", "single"):
        tenant = await make_tenant(db, f"{side}-{serial}", clock.now)
        ids = []
        for n in range(2):
            response = await client.post(
                tenant.connections_url(), json={"name": f"c{n}", "type": "snowflake"}, headers=tenant.write
            )
            ids.append(response.json()["id"])
            names[ids[-1]] = f"c{n}"
            for run in range(5):
                await seed(client, tenant, ids[-1], service_key, f"r{run}", clock.now - timedelta(minutes=5))
        tenants.append(tenant)
        connections.append(ids)

    batch_tenant, single_tenant = tenants
    items = [
        {
            "organisation_id": batch_tenant.id,
            "connection_id": connections[0][s["connection"]],
            "run_id": f"r{s['run']}",
            **body_of(s, clock),
        }
        for s in specs
    ]
    response = await client.post(BATCH_URL, json=items, headers=service_key)
    assert response.status_code == 200, response.text
    batch = [r["status"] for r in response.json()["results"]]

    single = []
    for s in specs:
        url = single_tenant.connection_url(connections[1][s["connection"]]) + f"metrics/r{s['run']}/"
        single.append((await client.patch(url, json=body_of(s, clock), headers=service_key)).status_code)

    assert batch == single
    assert await _stored(db, batch_tenant.id, names) == await _stored(db, single_tenant.id, names)
