"""POST /api/v1/lineage: OpenLineage run events become runs of connections (SPEC §9)."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from pipepulse.db.models import LineageRun, Run, WarehouseConnection
from pipepulse.db.session import Database
from pipepulse.scheduler import jobs
from tests.conftest import FrozenClock, Tenant, iso
from tests.lineage.conftest import bound_key, error_facet, output, run_event

URL = "/api/v1/lineage"


async def _connections(client: httpx.AsyncClient, tenant: Tenant) -> list[dict[str, Any]]:
    response = await client.get(tenant.connections_url(), headers=tenant.read)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _run(client: httpx.AsyncClient, tenant: Tenant, connection_id: str, run_id: str) -> dict[str, Any]:
    response = await client.get(
        tenant.connection_url(connection_id) + f"metrics/{run_id}/", headers=tenant.read
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _count(db: Database, model: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_lineage__start_then_complete__one_run_with_the_outputs_row_counts(
    client: httpx.AsyncClient, tenant: Tenant, lineage_key: dict[str, str], clock: FrozenClock
) -> None:
    run_id = str(uuid.uuid4())
    start = run_event("START", clock.now - timedelta(minutes=3), run_id=run_id)
    started = await client.post(URL, json=start, headers=lineage_key)
    assert started.status_code == 201, started.text
    connection_id = started.json()["connection_id"]
    complete = run_event(
        "COMPLETE",
        clock.now - timedelta(minutes=1),
        run_id=run_id,
        outputs=[output("orders", rows=120, size=4096), output("order_lines", rows=380, size=1024)],
    )
    completed = await client.post(URL, json=complete, headers=lineage_key)
    assert completed.status_code == 201, completed.text

    (connection,) = await _connections(client, tenant)
    assert connection["id"] == connection_id
    assert connection["type"] == "openlineage"
    assert connection["state"] == "connected"
    assert connection["name"] == "airflow://prod/orders.load"
    assert connection["lineage_job"] == {"namespace": "airflow://prod", "name": "orders.load"}
    run = await _run(client, tenant, connection_id, run_id)
    assert run["outcome"] == "succeeded"
    assert run["events_delivered"] == 500
    assert run["bytes_delivered"] == 5120
    assert _at(run["started_at"]) == _at(start["eventTime"])
    assert _at(run["completed_at"]) == _at(complete["eventTime"])
    telemetry = (
        await client.get(tenant.connection_url(connection_id) + "telemetry/", headers=tenant.read)
    ).json()
    assert telemetry["status"] == "active"
    assert telemetry["events_last_24h"]["total"] == 500


async def test_lineage__fail_with_error_message__failed_run_and_connection_in_error(
    client: httpx.AsyncClient, tenant: Tenant, lineage_key: dict[str, str], clock: FrozenClock
) -> None:
    run_id = str(uuid.uuid4())
    await client.post(
        URL, json=run_event("START", clock.now - timedelta(minutes=2), run_id=run_id), headers=lineage_key
    )
    failed = run_event(
        "FAIL",
        clock.now - timedelta(minutes=1),
        run_id=run_id,
        run_facets=error_facet("division by zero in orders"),
    )
    answer = await client.post(URL, json=failed, headers=lineage_key)
    assert answer.status_code == 201, answer.text
    connection_id = answer.json()["connection_id"]
    run = await _run(client, tenant, connection_id, run_id)
    assert run["outcome"] == "failed"
    assert run["error"] == "division by zero in orders"
    telemetry = (
        await client.get(tenant.connection_url(connection_id) + "telemetry/", headers=tenant.read)
    ).json()
    assert telemetry["status"] == "error"
    assert telemetry["recent_errors"][0]["message"] == "division by zero in orders"


async def test_lineage__terminal_events_without_facets__default_messages_and_one_step_runs(
    client: httpx.AsyncClient, tenant: Tenant, lineage_key: dict[str, str], clock: FrozenClock
) -> None:
    failed_id, aborted_id, done_id = (str(uuid.uuid4()) for _ in range(3))
    at = clock.now - timedelta(minutes=1)
    for event_type, run_id in (("FAIL", failed_id), ("ABORT", aborted_id), ("COMPLETE", done_id)):
        answer = await client.post(URL, json=run_event(event_type, at, run_id=run_id), headers=lineage_key)
        assert answer.status_code == 201, answer.text
    connection_id = answer.json()["connection_id"]
    assert (await _run(client, tenant, connection_id, failed_id))["error"] == "run failed"
    assert (await _run(client, tenant, connection_id, aborted_id))["error"] == "run aborted"
    done = await _run(client, tenant, connection_id, done_id)
    assert done["outcome"] == "succeeded"
    assert done["events_delivered"] == 0
    assert _at(done["started_at"]) == _at(done["completed_at"]) == at


async def test_lineage__repeats__no_ops_and_a_contradicting_end_is_409(
    client: httpx.AsyncClient, tenant: Tenant, lineage_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    run_id = str(uuid.uuid4())
    start = run_event("START", clock.now - timedelta(minutes=3), run_id=run_id)
    complete = run_event(
        "COMPLETE", clock.now - timedelta(minutes=1), run_id=run_id, outputs=[output("t", rows=7)]
    )
    assert (await client.post(URL, json=start, headers=lineage_key)).status_code == 201
    again = await client.post(URL, json=start, headers=lineage_key)
    assert again.status_code == 200
    assert again.json()["changed"] is False
    assert (await client.post(URL, json=complete, headers=lineage_key)).status_code == 201
    repeat = await client.post(URL, json=complete, headers=lineage_key)
    assert repeat.status_code == 200
    assert repeat.json()["changed"] is False
    late_start = await client.post(URL, json=start, headers=lineage_key)
    assert late_start.status_code == 200

    contradiction = run_event(
        "FAIL", clock.now - timedelta(minutes=1), run_id=run_id, run_facets=error_facet("boom")
    )
    conflict = await client.post(URL, json=contradiction, headers=lineage_key)
    assert conflict.status_code == 409
    assert run_id in conflict.json()["detail"]
    other_count = run_event(
        "COMPLETE", clock.now - timedelta(minutes=1), run_id=run_id, outputs=[output("t", rows=8)]
    )
    assert (await client.post(URL, json=other_count, headers=lineage_key)).status_code == 409

    (connection,) = await _connections(client, tenant)
    run = await _run(client, tenant, connection["id"], run_id)
    assert (run["outcome"], run["events_delivered"], run["error"]) == ("succeeded", 7, None)
    assert await _count(db, Run) == 1


async def test_lineage__running_and_other__change_nothing(
    client: httpx.AsyncClient, lineage_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    for event_type in ("RUNNING", "OTHER"):
        answer = await client.post(URL, json=run_event(event_type, clock.now), headers=lineage_key)
        assert answer.status_code == 200, answer.text
        assert answer.json()["changed"] is False
    assert await _count(db, WarehouseConnection) == 0
    assert await _count(db, Run) == 0


def _without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    inner = event
    for part in path[:-1]:
        inner = inner[part]
    del inner[path[-1]]
    return event


async def test_lineage__bad_events__422_naming_the_field_and_nothing_written(
    client: httpx.AsyncClient, lineage_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    now = clock.now
    bad: list[tuple[dict[str, Any] | list[Any], list[str | int]]] = [
        (_without(run_event("START", now), "eventType"), ["body", "eventType"]),
        ({**run_event("START", now), "eventType": "FINISHED"}, ["body", "eventType"]),
        ({**run_event("START", now), "eventTime": "yesterday"}, ["body", "eventTime"]),
        ({**run_event("START", now), "eventTime": "2026-04-20"}, ["body", "eventTime"]),
        (run_event("START", now, run_id="not-a-uuid"), ["body", "run", "runId"]),
        (_without(run_event("START", now), "job", "name"), ["body", "job", "name"]),
        (_without(run_event("START", now), "run"), ["body", "run"]),
        (
            run_event("COMPLETE", now, outputs=[output("t", rows=-1)]),
            ["body", "outputs", 0, "outputFacets", "outputStatistics", "rowCount"],
        ),
        (
            run_event("COMPLETE", now, outputs=[output("a", rows=1), output("t", rows="12")]),
            ["body", "outputs", 1, "outputFacets", "outputStatistics", "rowCount"],
        ),  # type: ignore[arg-type]
        (
            run_event("FAIL", now, run_facets={"errorMessage": {"message": 42}}),
            ["body", "run", "facets", "errorMessage", "message"],
        ),
        (
            run_event("START", now, run_facets={"nominalTime": {"nominalStartTime": "soon"}}),
            ["body", "run", "facets", "nominalTime", "nominalStartTime"],
        ),
        (run_event("COMPLETE", now + timedelta(hours=1)), ["body", "eventTime"]),
        ([run_event("START", now)], ["body"]),
    ]
    for event, loc in bad:
        answer = await client.post(URL, json=event, headers=lineage_key)
        assert answer.status_code == 422, (event, answer.text)
        assert answer.json()["detail"][0]["loc"] == loc, answer.text
    assert await _count(db, WarehouseConnection) == 0
    assert await _count(db, Run) == 0


async def test_lineage__end_before_start__422_on_event_time_and_run_still_pending(
    client: httpx.AsyncClient, tenant: Tenant, lineage_key: dict[str, str], clock: FrozenClock
) -> None:
    run_id = str(uuid.uuid4())
    started = await client.post(URL, json=run_event("START", clock.now, run_id=run_id), headers=lineage_key)
    early = run_event("COMPLETE", clock.now - timedelta(minutes=5), run_id=run_id)
    answer = await client.post(URL, json=early, headers=lineage_key)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "eventTime"]
    assert "eventTime" in answer.json()["detail"][0]["msg"]
    run = await _run(client, tenant, started.json()["connection_id"], run_id)
    assert run["outcome"] == "pending"


async def test_lineage__unknown_job_without_auto_create__422_naming_the_job(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock, db: Database
) -> None:
    key = await bound_key(db, tenant, clock.now, auto_create=False)
    answer = await client.post(URL, json=run_event("START", clock.now, name="billing.nightly"), headers=key)
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "job"]
    assert "airflow://prod/billing.nightly" in error["msg"]
    assert "--auto-create-connections" in error["msg"]
    assert await _count(db, WarehouseConnection) == 0


async def test_lineage__known_job__a_key_without_auto_create_feeds_its_connection(
    client: httpx.AsyncClient, tenant: Tenant, lineage_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    first = await client.post(URL, json=run_event("COMPLETE", clock.now), headers=lineage_key)
    key = await bound_key(db, tenant, clock.now, auto_create=False)
    run_id = str(uuid.uuid4())
    answer = await client.post(URL, json=run_event("COMPLETE", clock.now, run_id=run_id), headers=key)
    assert answer.status_code == 201, answer.text
    assert answer.json()["connection_id"] == first.json()["connection_id"]


async def test_lineage__credentials__unbound_keys_and_user_tokens_refused(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    event = run_event("START", clock.now)
    unbound = await client.post(URL, json=event, headers=service_key)
    assert unbound.status_code == 403
    assert "--org" in unbound.json()["detail"]
    user = await client.post(URL, json=event, headers=tenant.write)
    assert user.status_code == 403
    anonymous = await client.post(URL, json=event)
    assert anonymous.status_code == 401
    assert await _count(db, Run) == 0


async def test_lineage__bodies__gzip_accepted_bombs_and_bad_media_refused(
    client: httpx.AsyncClient, lineage_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    event = run_event("COMPLETE", clock.now, outputs=[output("t", rows=3)])
    headers = {**lineage_key, "Content-Type": "application/json"}
    zipped = await client.post(
        URL,
        content=gzip.compress(json.dumps(event).encode()),
        headers={**headers, "Content-Encoding": "gzip"},
    )
    assert zipped.status_code == 201, zipped.text

    # 64 MiB of spaces compress to about 64 KiB: under the body limit, far over it inflated.
    bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]", compresslevel=9)
    assert len(bomb) < 1024 * 1024
    refused = await client.post(URL, content=bomb, headers={**headers, "Content-Encoding": "gzip"})
    assert refused.status_code == 413
    assert "PIPEPULSE_MAX_BODY_BYTES" in refused.json()["detail"]

    not_gzip = await client.post(URL, content=b"{}", headers={**headers, "Content-Encoding": "gzip"})
    assert not_gzip.status_code == 422
    brotli = await client.post(URL, content=b"{}", headers={**headers, "Content-Encoding": "br"})
    assert brotli.status_code == 415
    text = await client.post(URL, content=b"{}", headers={**lineage_key, "Content-Type": "text/plain"})
    assert text.status_code == 415
    broken = await client.post(URL, content=b'{"eventType": "START",\n  oops}', headers=headers)
    assert broken.status_code == 422
    assert "line 2, column 3" in broken.json()["detail"][0]["msg"]
    assert await _count(db, Run) == 1


async def test_lineage__nominal_time_and_parent__kept_beside_the_run(
    client: httpx.AsyncClient, lineage_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    run_id, parent_id = str(uuid.uuid4()), str(uuid.uuid4())
    facets = {
        "nominalTime": {"nominalStartTime": "2026-04-20T11:00:00Z", "nominalEndTime": "2026-04-20T12:00:00Z"},
        "parent": {"run": {"runId": parent_id}, "job": {"namespace": "dbt", "name": "dbt-run-shop"}},
    }
    answer = await client.post(
        URL, json=run_event("START", clock.now, run_id=run_id, run_facets=facets), headers=lineage_key
    )
    assert answer.status_code == 201, answer.text
    async with db.session() as session:
        kept = await session.get(LineageRun, (answer.json()["connection_id"], run_id))
    assert kept is not None
    assert iso(kept.nominal_start_at) == "2026-04-20T11:00:00.000000Z"  # type: ignore[arg-type]
    assert iso(kept.nominal_end_at) == "2026-04-20T12:00:00.000000Z"  # type: ignore[arg-type]
    assert (kept.parent_namespace, kept.parent_name, kept.parent_run_id) == ("dbt", "dbt-run-shop", parent_id)


async def test_lineage__openlineage_connections__never_seeded_by_the_scheduler(
    client: httpx.AsyncClient, tenant: Tenant, lineage_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    await client.post(URL, json=run_event("COMPLETE", clock.now), headers=lineage_key)
    async with db.session(write=True) as session:
        seeded = await jobs.seed_due_runs(session, clock.advance(hours=3))
    assert seeded == []


async def test_lineage_batch__each_event_judged_alone__bad_ones_write_nothing(
    client: httpx.AsyncClient, tenant: Tenant, lineage_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    run_id = str(uuid.uuid4())
    events = [
        run_event("START", clock.now - timedelta(minutes=2), run_id=run_id),
        run_event("START", clock.now, run_id="nope", name="other.job"),
        run_event("COMPLETE", clock.now, run_id=run_id, outputs=[output("t", rows=9)]),
        run_event("FAIL", clock.now, run_id=run_id),
        run_event("COMPLETE", clock.now, run_id=run_id, outputs=[output("t", rows=9)]),
    ]
    answer = await client.post(URL + "/batch", json=events, headers=lineage_key)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201, 409, 200]
    assert results[1]["detail"][0]["loc"] == ["body", 1, "run", "runId"]
    (connection,) = await _connections(client, tenant)
    assert connection["lineage_job"]["name"] == "orders.load"
    run = await _run(client, tenant, connection["id"], run_id)
    assert (run["outcome"], run["events_delivered"]) == ("succeeded", 9)
    assert await _count(db, Run) == 1

    not_a_list = await client.post(URL + "/batch", json=events[0], headers=lineage_key)
    assert not_a_list.status_code == 422


async def test_connection_lineage_job__set_by_the_user__events_feed_it_and_a_second_mapping_is_409(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock, db: Database
) -> None:
    job = {"namespace": "dagster://analytics", "name": "daily_orders"}
    created = await client.post(
        tenant.connections_url(),
        json={"name": "Daily orders", "type": "openlineage", "state": "connected", "lineage_job": job},
        headers=tenant.write,
    )
    assert created.status_code == 201, created.text
    assert created.json()["lineage_job"] == job
    key = await bound_key(db, tenant, clock.now, auto_create=False)
    event = run_event("COMPLETE", clock.now, namespace=job["namespace"], name=job["name"])
    fed = await client.post(URL, json=event, headers=key)
    assert fed.status_code == 201, fed.text
    assert fed.json()["connection_id"] == created.json()["id"]

    twice = await client.post(
        tenant.connections_url(),
        json={"name": "Again", "type": "duckdb", "lineage_job": job},
        headers=tenant.write,
    )
    assert twice.status_code == 409
    assert created.json()["id"] in twice.json()["detail"]
    other = await client.post(
        tenant.connections_url(), json={"name": "Other", "type": "duckdb"}, headers=tenant.write
    )
    moved = await client.patch(
        tenant.connection_url(other.json()["id"]), json={"lineage_job": job}, headers=tenant.write
    )
    assert moved.status_code == 409
    unmapped = await client.patch(
        tenant.connection_url(created.json()["id"]), json={"lineage_job": None}, headers=tenant.write
    )
    assert unmapped.status_code == 200, unmapped.text
    assert unmapped.json()["lineage_job"] is None
    refused = await client.post(URL, json=run_event("COMPLETE", clock.now, **job), headers=key)
    assert refused.status_code == 422
    assert (
        await client.patch(
            tenant.connection_url(other.json()["id"]), json={"lineage_job": job}, headers=tenant.write
        )
    ).status_code == 200
