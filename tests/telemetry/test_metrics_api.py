"""Readable examples of the metrics, bulk and health endpoints and the rollups rebuild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.db.models import EventHourlyRollup, RunDailyRollup, RunHourlyRollup
from pipepulse.db.session import Database
from pipepulse.metrics import buckets
from pipepulse.rollups import plan as planner
from pipepulse.rollups import rebuild
from tests.conftest import FrozenClock, Tenant, iso
from tests.telemetry.helpers import make_connection, push


def metrics_url(tenant: Tenant, connection: dict[str, Any]) -> str:
    return tenant.connection_url(connection["id"]) + "telemetry/metrics/"


def q(value: datetime) -> str:
    return iso(value).replace("+", "%2B")


# --- buckets (pure) -------------------------------------------------------------------------


def test_buckets__one_week__start_on_monday() -> None:
    thursday = datetime(2026, 4, 16, 15, 30, tzinfo=UTC)
    out = buckets.buckets(thursday, thursday + timedelta(days=10), "week", 1)
    assert [b.label for b in out] == [datetime(2026, 4, 13, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC)]
    assert out[0].start == thursday  # clipped to the range, labelled by the aligned slot
    assert all(b.label.weekday() == 0 for b in out)


def test_buckets__month__calendar_months_of_different_lengths() -> None:
    out = buckets.buckets(datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC), "month", 1)
    assert [b.label.month for b in out] == [1, 2, 3, 4]
    assert out[1].end - out[1].start == timedelta(days=28)
    assert out[2].end - out[2].start == timedelta(days=31)


def test_buckets__three_months__calendar_quarters() -> None:
    out = buckets.buckets(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC), "month", 3)
    assert [b.label for b in out] == [datetime(2026, m, 1, tzinfo=UTC) for m in (1, 4, 7)]


def test_buckets__split__whole_hours_from_rollups_edges_raw() -> None:
    start = datetime(2026, 4, 20, 9, 20, tzinfo=UTC)
    out = buckets.buckets(start, datetime(2026, 4, 20, 12, 10, tzinfo=UTC), "hour", 2)
    plan = planner.split([(b.start, b.end) for b in out])
    assert [b.label.hour for b in out] == [8, 10, 12]
    assert plan.whole_hours == [None, (out[1].start, out[1].end), None]
    assert plan.raw == [(start, out[1].start), (out[2].start, out[2].end)]


# --- GET {conn}/telemetry/metrics/ ----------------------------------------------------------


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
    ("query", "fragment"),
    [
        ("time_type=timeseries&time_unit=minute&timestamp_from=2026-04-01T00:00:00Z", "10000"),
        ("timestamp_from=2026-04-20T12:00:00Z&timestamp_to=2026-04-20T11:00:00Z", "before"),
        ("timestamp_from=2026-04-20T11:00:00Z&timestamp_to=2026-04-20T11:00:00Z", "before"),
        ("time_unit=fortnight", ""),
        ("time_interval=0", ""),
        ("time_type=forever", ""),
        ("timestamp_from=yesterday", ""),
        ("timestamp_from=2026-04-20T11:00:00", ""),  # naive: ambiguous
        ("time_type=timeseries&time_unit=month&time_interval=10000&timestamp_from=0001-01-01T00:00:00Z", ""),
    ],
)
async def test_metrics__bad_parameters__422_with_detail(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any], query: str, fragment: str
) -> None:
    response = await client.get(f"{metrics_url(tenant, connection)}?{query}", headers=tenant.read)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert fragment.replace("10000", "10,000") in detail[0]["msg"] or fragment in detail[0]["msg"]


async def test_metrics__foreign_connection__404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, connection: dict[str, Any]
) -> None:
    url = f"/api/v1/organisations/{tenant.id}/integrations/warehouse-connections/{connection['id']}/"
    assert (await client.get(url + "telemetry/metrics/", headers=other_tenant.read)).status_code == 404
    foreign = (
        f"/api/v1/organisations/{other_tenant.id}/integrations/warehouse-connections/{connection['id']}/"
    )
    assert (await client.get(foreign + "telemetry/metrics/", headers=other_tenant.read)).status_code == 404


# --- bulk -----------------------------------------------------------------------------------


async def test_bulk__only_visible_connections_are_counted(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = await make_connection(client, tenant, "mine")
    theirs = await make_connection(client, other_tenant, "theirs")
    response = await client.get(
        f"/api/v1/telemetry/metrics/?ids={mine['id']},{theirs['id']}&tenant_ids={tenant.id},{other_tenant.id}",
        headers=tenant.read,
    )
    body = response.json()
    assert body["total"] == 1
    assert [r["id"] for r in body["result"]] == [mine["id"]]
    assert body["result"][0]["organisation_id"] == tenant.id
    assert body["result"][0]["name"] == "mine"


async def test_bulk__post_body_wins_over_query(client: httpx.AsyncClient, tenant: Tenant) -> None:
    a = await make_connection(client, tenant, "a")
    b = await make_connection(client, tenant, "b")
    response = await client.post(
        f"/api/v1/telemetry/metrics/?ids={a['id']}", json={"ids": [b["id"]]}, headers=tenant.read
    )
    assert [r["id"] for r in response.json()["result"]] == [b["id"]]
    response = await client.post(
        "/api/v1/telemetry/metrics/", json={"ids": f"{a['id']},{b['id']}"}, headers=tenant.read
    )
    assert response.json()["total"] == 2


async def test_bulk__sort_status_filter_and_cursor(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    conns = [await make_connection(client, tenant, f"c{i}") for i in range(5)]
    t = clock.now - timedelta(hours=1)
    for i, conn in enumerate(conns):
        await push(
            client, tenant, conn["id"], service_key, started_at=t, completed_at=t, events_delivered=i * 10
        )
    await push(client, tenant, conns[0]["id"], service_key, started_at=t, completed_at=t, error="x")
    url = "/api/v1/telemetry/metrics/?sort=events_delivered&sort_dir=desc&size=2"
    first = (await client.get(url, headers=tenant.read)).json()
    assert [r["name"] for r in first["result"]] == ["c4", "c3"]
    assert (first["total"], first["has_next"], first["page"]) == (5, True, 1)
    second = (await client.get(url + f"&from={first['next_cursor']}", headers=tenant.read)).json()
    assert [r["name"] for r in second["result"]] == ["c2", "c1"]
    last = (await client.get(url + f"&from={second['next_cursor']}", headers=tenant.read)).json()
    assert ([r["name"] for r in last["result"]], last["has_next"], last["next_cursor"]) == (
        ["c0"],
        False,
        None,
    )
    paged = (await client.get(url + "&page=3", headers=tenant.read)).json()
    assert [r["name"] for r in paged["result"]] == ["c0"]

    degraded = (await client.get("/api/v1/telemetry/metrics/?status=degraded", headers=tenant.read)).json()
    assert [r["name"] for r in degraded["result"]] == ["c0"]
    by_status = (
        await client.get("/api/v1/telemetry/metrics/?sort=status&sort_dir=desc", headers=tenant.read)
    ).json()
    assert by_status["result"][0]["data"]["status"] == "degraded"

    bad = await client.get(url + "&from=not-a-cursor", headers=tenant.read)
    assert bad.status_code == 422
    other_query = await client.get(
        "/api/v1/telemetry/metrics/?sort=name" + f"&from={first['next_cursor']}", headers=tenant.read
    )
    assert other_query.status_code == 422


@pytest.mark.parametrize(
    "query",
    ["size=501", "size=0", "sort=events_by_type", "sort_dir=up", "status=great", "tenant_ids=abc",
     "ids=bad%20id", "time_type=timeseries", "page=0"],
)  # fmt: skip
async def test_bulk__bad_parameters__422(client: httpx.AsyncClient, tenant: Tenant, query: str) -> None:
    response = await client.get(f"/api/v1/telemetry/metrics/?{query}", headers=tenant.read)
    assert response.status_code == 422, response.text


async def test_bulk__platform_token__sees_every_organisation(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database, clock: FrozenClock
) -> None:
    await make_connection(client, tenant, "a")
    await make_connection(client, other_tenant, "b")
    async with db.session(write=True) as session:
        issued = await auth_service.create_token(
            session, organisation_id=None, scopes=[scopes.READ_PIPELINE_METRICS], name="p", now=clock.now
        )
    headers = {"Authorization": f"Bearer {issued.token}"}
    body = (await client.get("/api/v1/telemetry/metrics/", headers=headers)).json()
    assert body["total"] == 2
    only = (
        await client.get(f"/api/v1/telemetry/metrics/?tenant_ids={other_tenant.id}", headers=headers)
    ).json()
    assert [r["name"] for r in only["result"]] == ["b"]


# --- organisation health --------------------------------------------------------------------


async def test_health__reference_shape_by_id_and_slug(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    sync = await make_connection(client, tenant, "sync", integration_type="metadata_sync")
    checks = await make_connection(client, tenant, "checks", integration_type="quality_check")
    await make_connection(client, tenant, "idle", integration_type="webhook")
    t = clock.now - timedelta(days=3)
    await push(client, tenant, sync["id"], service_key, started_at=t, completed_at=t + timedelta(minutes=1))
    await push(client, tenant, checks["id"], service_key, started_at=t, completed_at=t, batches_dlq=1)
    await push(client, tenant, checks["id"], service_key, started_at=clock.now - timedelta(minutes=20))
    old = clock.now - timedelta(days=31)
    await push(client, tenant, sync["id"], service_key, started_at=old, completed_at=old)
    by_id = await client.get(f"/api/v1/organisations/{tenant.id}/integration-health/", headers=tenant.read)
    by_slug = await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health", headers=tenant.read)
    assert by_id.json() == by_slug.json() == {
        "space_id": "acme",
        "period_days": 30,
        "total_events": 3,
        "success_count": 1,
        "error_count": 2,
        "success_rate": 33.3,
        "last_success_at": "2026-04-17T12:01:00Z",
        "last_error_at": "2026-04-20T11:55:00Z",
        "by_integration_type": [
            {"integration_type": "metadata_sync", "total": 1, "success": 1, "errors": 0,
             "last_event_at": "2026-04-17T12:01:00Z"},
            {"integration_type": "quality_check", "total": 2, "success": 0, "errors": 2,
             "last_event_at": "2026-04-20T11:55:00Z"},
            {"integration_type": "webhook", "total": 0, "success": 0, "errors": 0, "last_event_at": None},
        ],
        "precision": "exact",
        "counted_from": "2026-03-21T12:00:00Z",
    }  # fmt: skip
    two_days = await client.get(
        f"/api/v1/spaces/{tenant.slug}/integration-health?days=2", headers=tenant.read
    )
    assert two_days.json()["total_events"] == 1


async def test_health__no_runs__zeroes_and_null_rate(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = (await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health", headers=tenant.read)).json()
    assert body["total_events"] == 0
    assert body["success_rate"] is None
    assert body["by_integration_type"] == []


@pytest.mark.parametrize("days", ["0", "366", "-1", "x"])
async def test_health__days_out_of_range__422(client: httpx.AsyncClient, tenant: Tenant, days: str) -> None:
    response = await client.get(
        f"/api/v1/spaces/{tenant.slug}/integration-health?days={days}", headers=tenant.read
    )
    assert response.status_code == 422


async def test_health__other_organisation__404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    assert (
        await client.get(f"/api/v1/spaces/{other_tenant.slug}/integration-health", headers=tenant.read)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/organisations/{other_tenant.id}/integration-health/", headers=tenant.read)
    ).status_code == 404
    assert (await client.get("/api/v1/spaces/NOPE/integration-health", headers=tenant.read)).status_code in (
        404,
        422,
    )


# --- rollups rebuild ------------------------------------------------------------------------


async def _rollups(db: Database) -> list[Any]:
    out = []
    async with db.session() as session:
        for table in (RunHourlyRollup, EventHourlyRollup, RunDailyRollup):
            rows = (await session.scalars(select(table))).all()
            out.append(sorted(
                tuple(getattr(r, c.key) for c in table.__table__.columns) for r in rows  # type: ignore[attr-defined]
            ))  # fmt: skip
    return out


async def test_rebuild__after_ingest__changes_nothing_and_repairs_damage(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    conn = await make_connection(client, tenant)
    for i in range(6):
        t = clock.now - timedelta(minutes=37 * i)
        await push(
            client, tenant, conn["id"], service_key, started_at=t - timedelta(seconds=i), completed_at=t,
            events_delivered=i, events_pending=i % 2 or None, batches_dlq=i % 3 // 2,
            events_by_type={"evaluations": i} if i % 2 else None,
        )  # fmt: skip
    before = await _rollups(db)
    assert all(before)
    async with db.session(write=True) as session:
        counts = await rebuild.rebuild(session)
    assert counts.runs == 6
    assert await _rollups(db) == before
    async with db.session(write=True) as session:
        await session.execute(RunHourlyRollup.__table__.delete())
    async with db.session(write=True) as session:
        await rebuild.rebuild(session, conn["id"])
    assert await _rollups(db) == before
