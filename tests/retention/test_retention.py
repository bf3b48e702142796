"""SPEC §8 retention, end to end on a test clock: a history older than retention, one
scheduler tick with the default settings, and every read before and after it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, text

from pipepulse import ids
from pipepulse.config import Settings
from pipepulse.db.dialect import as_utc
from pipepulse.db.models import EventHourlyRollup, Run, RunDailyRollup, RunHourlyRollup
from pipepulse.db.session import Database
from pipepulse.retention import service as retention
from pipepulse.rollups import rebuild
from pipepulse.rollups.plan import kept
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import RunReport
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher
from tests.conftest import FrozenClock, Tenant, iso
from tests.helpers import make_connection, push

DAY = timedelta(days=1)


@dataclass
class History:
    a: str  # a connection with old runs (a success, a failure, an orphan) and recent ones
    b: str  # a connection whose only run, and delivery, is 100 days old
    old_success_id: str
    old_failure_id: str
    old: Any


@pytest.fixture
async def history(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> History:
    # Paused connections: the scheduler's tick seeds nothing, so only retention changes them.
    a = (await make_connection(client, tenant, "a", integration_type="metadata_sync", state="paused"))["id"]
    b = (await make_connection(client, tenant, "b", integration_type="webhook", state="paused"))["id"]
    old = clock.now - timedelta(days=100)
    success_id = ids.run_id(old)  # minted 100 days ago: a deleted run can be told from a typo
    await push(
        client, tenant, a, service_key, started_at=old, completed_at=old + timedelta(minutes=1),
        run_id=success_id, events_delivered=5,
    )  # fmt: skip
    failed_at = old + timedelta(hours=2)
    await push(
        client, tenant, a, service_key, started_at=failed_at, completed_at=failed_at + timedelta(minutes=1),
        run_id="nightly-a2", error="warehouse refused the load",
    )  # fmt: skip
    await push(client, tenant, a, service_key, started_at=old + timedelta(hours=3))  # an orphan
    recent = clock.now - 2 * DAY
    await push(client, tenant, a, service_key, started_at=recent, completed_at=recent + timedelta(minutes=1))
    await push(client, tenant, a, service_key, started_at=clock.now - timedelta(hours=1))  # a recent orphan
    b_run = old + timedelta(minutes=30)
    await push(
        client, tenant, b, service_key, started_at=b_run, completed_at=b_run + timedelta(minutes=1),
        events_delivered=3,
    )  # fmt: skip
    return History(a=a, b=b, old_success_id=success_id, old_failure_id="nightly-a2", old=old)


async def read_everything(client: httpx.AsyncClient, tenant: Tenant, h: History) -> dict[str, Any]:
    """Every read whose answer the rollups keep, keyed by what it is."""
    metrics = tenant.connection_url(h.a) + "telemetry/metrics/"
    old = h.old
    queries = {
        "summary_120d": {"time_type": "timesummary", "timestamp_from": iso(old - 20 * DAY)},
        "summary_mid_hour": {"time_type": "timesummary", "timestamp_from": iso(old + timedelta(minutes=30))},
        "orphan_hour": {
            "time_type": "timesummary",
            "timestamp_from": iso(old + timedelta(hours=3)),
            "timestamp_to": iso(old + timedelta(hours=4)),
        },
        "daily_series": {"time_type": "timeseries", "time_unit": "day", "timestamp_from": iso(old - DAY)},
        "hourly_series": {
            "time_type": "timeseries",
            "time_unit": "hour",
            "timestamp_from": iso(old),
            "timestamp_to": iso(old + timedelta(hours=5)),
        },
    }
    out: dict[str, Any] = {}
    for name, params in queries.items():
        response = await client.get(metrics, params=params, headers=tenant.read)
        assert response.status_code == 200, response.text
        out[name] = response.json()
    health = f"/api/v1/spaces/{tenant.slug}/integration-health"
    out["health_120d"] = (await client.get(health, params={"days": 120}, headers=tenant.read)).json()
    out["health_365d"] = (await client.get(health, params={"days": 365}, headers=tenant.read)).json()
    out["health_30d"] = (await client.get(health, headers=tenant.read)).json()
    for name, cid in (("telemetry_a", h.a), ("telemetry_b", h.b)):
        response = await client.get(tenant.connection_url(cid) + "telemetry/", headers=tenant.read)
        assert response.status_code == 200
        out[name] = response.json()
    bulk = await client.get("/api/v1/telemetry/metrics/", params={"ids": f"{h.a},{h.b}"}, headers=tenant.read)
    out["bulk_latest"] = bulk.json()
    return out


def without_type_times(health: dict[str, Any]) -> dict[str, Any]:
    types = [{**t, "last_event_at": None} for t in health["by_integration_type"]]
    return {**health, "by_integration_type": types}


async def test_tick__default_settings__old_runs_deleted_and_every_count_kept(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    history: History,
) -> None:
    before = await read_everything(client, tenant, history)
    assert before["health_120d"]["total_events"] == 6
    assert (before["health_120d"]["success_count"], before["health_120d"]["error_count"]) == (3, 3)
    assert before["orphan_hour"]["data"]["failed_runs"] == before["orphan_hour"]["data"]["runs"] == 1

    result = await runner.tick(db, settings, NoDispatcher(), clock.now)

    assert result.deleted is not None
    assert result.deleted.counts() == {
        "runs": 3,
        "orphans": 1,
        "hourly_rollups": 0,
        "event_rollups": 0,
        "notifications": 0,
        "alert_events": 0,
    }
    after = await read_everything(client, tenant, history)
    # Every count, rate and series is unchanged, and so is B's last run time: every report keeps
    # the connection's latest times, which outlive its raw runs.
    webhook_before = before["health_120d"]["by_integration_type"][1]
    webhook_after = after["health_120d"]["by_integration_type"][1]
    assert webhook_before["last_event_at"] == iso(history.old + timedelta(minutes=31)).replace(".000000", "")
    assert webhook_after["last_event_at"] == webhook_before["last_event_at"]
    for name in ("health_120d", "health_365d"):
        assert without_type_times(after[name]) == without_type_times(before[name])
        assert after[name]["precision"] == "hour"
    # 'latest' shows the latency of the latest run kept: B's only run is gone, so it is null.
    b_latest = before["bulk_latest"]["result"][1]["data"]
    assert (b_latest["latency"], after["bulk_latest"]["result"][1]["data"]["latency"]) == (60000, None)
    b_latest["latency"] = None
    for name in before:
        if not name.startswith("health_1") and not name.startswith("health_3"):
            assert after[name] == before[name], name
    assert after["health_30d"]["precision"] == "exact"
    assert after["summary_mid_hour"]["precision"] == "hour"
    # The mid-hour range is counted from the start of its hour, before and after alike.
    assert after["summary_mid_hour"]["counted_from"] == iso(history.old).replace(".000000", "")
    assert after["telemetry_b"]["last_delivery_at"] == before["telemetry_b"]["last_delivery_at"] is not None

    again = await runner.tick(db, settings, NoDispatcher(), clock.now)
    assert again.deleted is not None
    assert again.deleted.total == 0
    assert await read_everything(client, tenant, history) == after


async def test_deleted_run__read_by_id__404_says_past_retention_or_not_found(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    history: History,
) -> None:
    runs = tenant.connection_url(history.a) + "metrics/"
    assert (await client.get(runs + f"{history.old_success_id}/", headers=tenant.read)).status_code == 200
    assert (await client.get(runs, headers=tenant.read)).json()["total"] == 5

    await runner.tick(db, settings, NoDispatcher(), clock.now)

    minted = await client.get(runs + f"{history.old_success_id}/", headers=tenant.read)
    assert minted.status_code == 404
    assert "PIPEPULSE_RUN_RETENTION_DAYS=90" in minted.json()["detail"]
    chosen = await client.get(runs + f"{history.old_failure_id}/", headers=tenant.read)
    assert chosen.status_code == 404
    assert chosen.json()["detail"] == "run 'nightly-a2' not found for this connection"
    listed = (await client.get(runs, headers=tenant.read)).json()
    assert listed["total"] == 2  # the runs list holds the raw runs kept


@pytest.mark.parametrize(
    ("params", "loc", "setting"),
    [
        ({"time_type": "timeseries", "time_unit": "minute", "time_interval": 30}, "time_unit", "RUN"),
        ({"time_type": "latest"}, "timestamp_to", "RUN"),
        ({"time_type": "timesummary", "from_days": 401}, "timestamp_from", "ROLLUP"),
    ],
)
async def test_metrics__needs_what_retention_deleted__422_naming_the_setting(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    history: History,
    params: dict[str, Any],
    loc: str,
    setting: str,
) -> None:
    query = {k: v for k, v in params.items() if k != "from_days"}
    start = clock.now - timedelta(days=params.get("from_days", 100))
    query |= {"timestamp_from": iso(start), "timestamp_to": iso(start + DAY)}
    url = tenant.connection_url(history.a) + "telemetry/metrics/"
    for _ in ("before", "after"):  # refused whether or not retention has run yet
        response = await client.get(url, params=query, headers=tenant.read)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["query", loc]
        assert f"PIPEPULSE_{setting}_RETENTION_DAYS" in error["msg"]
        await runner.tick(db, settings, NoDispatcher(), clock.now)
    if params["time_type"] == "latest":
        bulk = await client.get("/api/v1/telemetry/metrics/", params=query, headers=tenant.read)
        assert bulk.status_code == 422


async def test_metrics__hour_long_minute_buckets_beyond_retention__answered_from_rollups(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    history: History,
) -> None:
    url = tenant.connection_url(history.a) + "telemetry/metrics/"
    params = {
        "time_type": "timeseries", "time_unit": "minute", "time_interval": 60,
        "timestamp_from": iso(history.old), "timestamp_to": iso(history.old + DAY),
    }  # fmt: skip
    before = await client.get(url, params=params, headers=tenant.read)
    await runner.tick(db, settings, NoDispatcher(), clock.now)
    after = await client.get(url, params=params, headers=tenant.read)
    assert before.status_code == after.status_code == 200
    assert after.json() == before.json()
    assert sum(point["value"] for point in after.json()["data"]["runs"]) == 3
    assert after.json()["precision"] == "hour"


async def test_retention__backlog_larger_than_a_batch__deleted_in_batches_of_10000(
    db: Database, settings: Settings, clock: FrozenClock, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    cid = (await make_connection(client, tenant, "big", state="paused"))["id"]
    old = clock.now - timedelta(days=95)
    rows = [
        {
            "connection_id": cid, "id": f"r{i:06d}", "organisation_id": tenant.id, "started_at": old,
            "completed_at": old + timedelta(seconds=i % 600), "outcome": "succeeded", "events_delivered": 0,
            "batches_dlq": 0, "created_at": old,
        }
        for i in range(retention.BATCH_ROWS + 1)
    ]  # fmt: skip
    async with db.session(write=True) as session:
        for i in range(0, len(rows), 2000):
            await session.execute(insert(Run), rows[i : i + 2000])

    first = await retention.apply(db, settings.thresholds, clock.now, max_batches=1)
    assert first.runs == retention.BATCH_ROWS
    rest = await retention.apply(db, settings.thresholds, clock.now)
    assert rest.runs == 1
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Run)) == 0


async def test_retention__orphans_over_several_batches__each_rolled_up_once(
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
) -> None:
    cid = (await make_connection(client, tenant, "orphans", state="paused"))["id"]
    old = clock.now - timedelta(days=91)
    for i in range(7):  # orphan times 10:15 … 10:45 and 11:15 …: two hours, one day
        await push(client, tenant, cid, service_key, started_at=old + timedelta(minutes=10 * i))
    t = settings.thresholds
    async with db.session(write=True) as session:
        batch = await retention.delete_batch(session, cid, clock.now, t, limit=3)
    assert batch.orphans == 3
    done = await retention.apply(db, t, clock.now, limit=3)
    assert done.orphans == 4
    async with db.session() as session:
        hours = (await session.execute(select(RunHourlyRollup.runs, RunHourlyRollup.orphaned))).all()
        days = (await session.execute(select(RunDailyRollup.runs, RunDailyRollup.orphaned))).all()
    assert sum(o for _, o in hours) == sum(r for r, _ in hours) == 7
    assert days == [(7, 7)]


async def test_rebuild__after_retention__old_rollups_kept(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    history: History,
) -> None:
    await runner.tick(db, settings, NoDispatcher(), clock.now)
    health = f"/api/v1/spaces/{tenant.slug}/integration-health"
    before = (await client.get(health, params={"days": 120}, headers=tenant.read)).json()
    t = settings.thresholds
    async with db.session(write=True) as session:
        counts = await rebuild.rebuild(session, None, kept(clock.now, t.run_retention, t.rollup_retention))
    assert counts.runs == 1  # the one completed run still kept
    assert (await client.get(health, params={"days": 120}, headers=tenant.read)).json() == before


async def test_retention__hourly_rollups_past_rollup_retention__deleted_daily_kept(
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
) -> None:
    cid = (await make_connection(client, tenant, "ancient", state="paused"))["id"]
    ancient = clock.now - timedelta(days=401)
    await push(
        client, tenant, cid, service_key, started_at=ancient, completed_at=ancient,
        events_delivered=2, events_by_type={"evaluations": 2},
    )  # fmt: skip
    health = f"/api/v1/spaces/{tenant.slug}/integration-health"
    async with db.session() as session:
        preview = await retention.preview(session, clock.now, settings.thresholds)
    result = await runner.tick(db, settings, NoDispatcher(), clock.now)
    assert result.deleted is not None
    assert result.deleted.counts() == {
        "runs": 1,
        "orphans": 0,
        "hourly_rollups": 1,
        "event_rollups": 1,
        "notifications": 0,
        "alert_events": 0,
    }
    assert preview.counts() == result.deleted.counts()  # `pipepulse retention --dry-run`
    async with db.session() as session:
        assert (await session.execute(select(RunDailyRollup.runs))).scalars().all() == [1]
    body = (await client.get(health, params={"days": 365}, headers=tenant.read)).json()
    assert body["total_events"] == 0  # 401 days ago is outside every window health answers


async def test_retention__each_kind_past_retention_alone__only_the_connections_holding_it_cleared(
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
) -> None:
    """Each connection holds one kind of row past retention and nothing else: the check for work
    must find it by that kind alone, for that connection alone."""
    names = ("completed", "orphan", "hours", "edge_hour", "recent")
    cid = {name: (await make_connection(client, tenant, name, state="paused"))["id"] for name in names}
    now = clock.now
    old = now - 91 * DAY
    await push(client, tenant, cid["completed"], service_key, started_at=old, completed_at=old)
    await push(client, tenant, cid["orphan"], service_key, started_at=old)  # orphaned 91 days ago
    # Runs whose hourly rollups outlive them: two past rollup retention, and one on its edge (the
    # hour of now - 400 days is kept) there and alone on another connection.
    for name, age in (("hours", 402), ("hours", 401), ("hours", 400), ("edge_hour", 400)):
        at = now - age * DAY
        await push(
            client, tenant, cid[name], service_key, started_at=at, completed_at=at,
            events_delivered=1, events_by_type={"evaluations": 1},
        )  # fmt: skip
    await push(client, tenant, cid["recent"], service_key, started_at=now - DAY, completed_at=now - DAY)
    await push(client, tenant, cid["recent"], service_key, started_at=now - timedelta(hours=1))
    # Ten days earlier retention deleted the old runs of the rollup connections, not their hours.
    earlier = await retention.apply(db, settings.thresholds, now - 10 * DAY)
    assert (earlier.runs, earlier.hourly_rollups, earlier.connections) == (
        4, 0, {cid["hours"], cid["edge_hour"]}
    )  # fmt: skip
    # A batch deletes at most its limit of each kind, the oldest first.
    async with db.session(write=True) as session:
        batch = await retention.delete_batch(session, cid["hours"], now, settings.thresholds, limit=1)
    assert (batch.hourly_rollups, batch.event_rollups) == (1, 1)

    async with db.session() as session:
        preview = await retention.preview(session, now, settings.thresholds)
    result = await runner.tick(db, settings, NoDispatcher(), now)

    assert result.deleted is not None
    assert result.deleted.counts() == {
        "runs": 1,
        "orphans": 1,
        "hourly_rollups": 1,
        "event_rollups": 1,
        "notifications": 0,
        "alert_events": 0,
    }
    assert preview.counts() == result.deleted.counts()
    # The connections it reports (`across N connection(s)`), previewed and deleted alike.
    due = {cid["completed"], cid["orphan"], cid["hours"]}
    assert preview.connections == result.deleted.connections == due
    kept = {}
    for name, connection_id in cid.items():
        listed = await client.get(tenant.connection_url(connection_id) + "metrics/", headers=tenant.read)
        kept[name] = listed.json()["total"]
    assert kept == {"completed": 0, "orphan": 0, "hours": 0, "edge_hour": 0, "recent": 2}
    # Of the rollup connections' hours, those on the edge are kept.
    edge = now - 400 * DAY
    async with db.session() as session:
        for model in (RunHourlyRollup, EventHourlyRollup):
            rows = await session.execute(select(model.connection_id, model.hour).where(model.hour <= edge))
            left = sorted((connection_id, as_utc(hour)) for connection_id, hour in rows)
            assert left == sorted([(cid["hours"], edge), (cid["edge_hour"], edge)]), model


async def test_status_history__from_beyond_raw_retention__422_naming_the_setting(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    conn = (await make_connection(client, tenant, "sh"))["id"]
    url = tenant.connection_url(conn) + "status-history/"
    # The first day of a 90-day range needs the runs of the day before it, past the 90 days kept.
    refused = await client.get(
        url, params={"from": iso(clock.now - 90 * DAY), "to": iso(clock.now)}, headers=tenant.read
    )
    assert refused.status_code == 422, refused.text
    assert "PIPEPULSE_RUN_RETENTION_DAYS=90" in refused.text
    kept_range = await client.get(
        url, params={"from": iso(clock.now - 88 * DAY), "to": iso(clock.now)}, headers=tenant.read
    )
    assert kept_range.status_code == 200, kept_range.text


async def _until_a_statement_waits_on_a_row_lock(db: Database) -> None:
    for _ in range(200):
        async with db.session() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no statement waited on the run's row lock within 10 s")


@pytest.mark.only_on("postgres")
async def test_retention__orphan_completed_by_a_late_report_while_retention_waits_on_it__report_kept(
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
) -> None:
    """A late report completes an orphan past retention while retention's DELETE waits on the
    run's row lock: PostgreSQL re-checks the DELETE's own age predicate against the completed
    row and skips it, so the report is kept and the run is not rolled up as an orphan as well."""
    cid = (await make_connection(client, tenant, "late", integration_type="webhook", state="paused"))["id"]
    run_id = (await push(client, tenant, cid, service_key, started_at=clock.now - 91 * DAY))["id"]
    report = RunReport(completed_at=clock.now, events_delivered=4)
    late = runs_service.Report(0, tenant.id, cid, run_id, report)
    async with db.session(write=True) as reporting:
        await runs_service.report(reporting, late, clock.now)  # the row stays locked until commit
        deleting = asyncio.create_task(retention.apply(db, settings.thresholds, clock.now))
        await _until_a_statement_waits_on_a_row_lock(db)
    deleted = await asyncio.wait_for(deleting, timeout=10)

    assert deleted.counts() == dict.fromkeys(retention.TABLES, 0)
    run = await client.get(tenant.connection_url(cid) + f"metrics/{run_id}/", headers=tenant.read)
    assert run.status_code == 200, run.text
    assert (run.json()["outcome"], run.json()["events_delivered"]) == ("succeeded", 4)
    health = f"/api/v1/spaces/{tenant.slug}/integration-health"
    body = (await client.get(health, params={"days": 120}, headers=tenant.read)).json()
    assert (body["total_events"], body["success_count"], body["error_count"]) == (1, 1, 0)
