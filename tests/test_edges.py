"""Every window the service reads or cuts, pinned on its edges (tables in ``tests/edges.py``).

One table-driven test per window family, through the public API on the test database (run it
with ``PIPEPULSE_TEST_DATABASE=sqlite`` and ``=postgres``). Each row places one run exactly on
an edge, one second inside or one second outside, and checks what the documented rule says.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.retention import service as retention
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher
from tests.conftest import FrozenClock, Tenant, iso
from tests.edges import DAY, HOUR, NOW, SECOND, Edge, around, table
from tests.helpers import make_connection, push

ORPHAN_WINDOW = timedelta(minutes=15)


def stamp(value: datetime) -> str:
    return iso(value).replace(".000000", "")


async def get(client: httpx.AsyncClient, url: str, tenant: Tenant, **params: Any) -> Any:
    response = await client.get(url, params=params, headers=tenant.read)
    assert response.status_code == 200, response.text
    return response.json()


# --- SPEC §3: the rolling windows (now - 24h, now] and (now - 7d, now] -------------------------
# expected: (counted in the 24-hour window, counted in the 7-day window)
ROLLING = [
    *around("24h_start", -DAY, before=(False, True), on=(False, True), after=(True, True)),
    *around("now", timedelta(0), before=(True, True), on=(True, True), after=(False, False)),
    *around("7d_start", -7 * DAY, before=(False, False), on=(False, False), after=(False, True)),
]


@table(ROLLING)
async def test_edges__telemetry_rolling_windows__start_exclusive_end_inclusive(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], row: Edge
) -> None:
    conn = (await make_connection(client, tenant))["id"]
    at = NOW + row.instant
    # A partial run: it delivers (events), it fails (dead-letter batches) and it is an error to list.
    await push(
        client, tenant, conn, service_key, started_at=at - timedelta(minutes=1), completed_at=at,
        events_delivered=7, batches_dlq=2,
    )  # fmt: skip
    body = await get(client, tenant.connection_url(conn) + "telemetry/", tenant)
    in_24h, in_7d = row.expected
    assert body["events_last_24h"]["total"] == (7 if in_24h else 0)
    assert body["failed_deliveries_last_24h"] == (2 if in_24h else 0)
    assert body["events_last_7d"]["total"] == (7 if in_7d else 0)
    assert len(body["recent_errors"]) == (1 if in_7d else 0)
    assert body["status"] == ("error" if in_24h else "idle")  # its only run in 24h fails


# --- metrics-api.md: hour and week buckets are [start, start + interval) ------------------------
# expected: the start of the bucket the run counts in; the series must count it exactly once.
BUCKETS = [
    *around("hour", -HOUR, before=NOW - 2 * HOUR, on=NOW - HOUR, after=NOW - HOUR),
    *around("two_hours", -2 * HOUR, before=NOW - 3 * HOUR, on=NOW - 2 * HOUR, after=NOW - 2 * HOUR),
]
WEEKS = around(
    "monday", -12 * HOUR, before=NOW - 12 * HOUR - 7 * DAY, on=NOW - 12 * HOUR, after=NOW - 12 * HOUR
)


@table(BUCKETS)
async def test_edges__hour_buckets__a_run_on_the_hour_counts_once_in_the_hour_it_starts(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], row: Edge
) -> None:
    conn = (await make_connection(client, tenant))["id"]
    at = NOW + row.instant
    await push(client, tenant, conn, service_key, started_at=at - timedelta(minutes=1), completed_at=at)
    body = await get(
        client, tenant.connection_url(conn) + "telemetry/metrics/", tenant,
        time_type="timeseries", time_unit="hour", timestamp_from=iso(NOW - 4 * HOUR), timestamp_to=iso(NOW),
    )  # fmt: skip
    series = body["data"]["runs"]
    assert sum(point["value"] for point in series) == 1
    assert [p["timestamp"] for p in series if p["value"]] == [stamp(row.expected)]


@table(WEEKS)
async def test_edges__week_buckets__start_on_monday_midnight(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], row: Edge
) -> None:
    conn = (await make_connection(client, tenant))["id"]
    at = NOW + row.instant
    await push(client, tenant, conn, service_key, started_at=at - timedelta(minutes=1), completed_at=at)
    body = await get(
        client, tenant.connection_url(conn) + "telemetry/metrics/", tenant,
        time_type="timeseries", time_unit="week", timestamp_from=iso(NOW - 14 * DAY), timestamp_to=iso(NOW),
    )  # fmt: skip
    series = body["data"]["runs"]
    assert sum(point["value"] for point in series) == 1
    assert [p["timestamp"] for p in series if p["value"]] == [stamp(row.expected)]


# --- metrics-api.md: the range [timestamp_from, timestamp_to), off the hour and on it -----------
# The off-hour range is read from raw runs at its partial hours and from rollups in between, so
# a run exactly on an hour inside it sits on the seam and must still count once.
FROM_OFF, TO_OFF = NOW - 2 * HOUR - 30 * 60 * SECOND, NOW - 30 * 60 * SECOND  # 09:30 .. 11:30
RANGE = [
    *around("from", FROM_OFF - NOW, before=0, on=1, after=1),
    *around("seam_10h", -2 * HOUR, before=1, on=1, after=1),
    *around("seam_11h", -HOUR, before=1, on=1, after=1),
    *around("to", TO_OFF - NOW, before=1, on=0, after=0),
]


@table(RANGE)
async def test_edges__metrics_range__from_inclusive_to_exclusive_and_seams_counted_once(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], row: Edge
) -> None:
    conn = (await make_connection(client, tenant))["id"]
    at = NOW + row.instant
    await push(
        client, tenant, conn, service_key, started_at=at - timedelta(minutes=1), completed_at=at,
        events_delivered=3,
    )  # fmt: skip
    url = tenant.connection_url(conn) + "telemetry/metrics/"
    summary = await get(
        client, url, tenant, time_type="timesummary", timestamp_from=iso(FROM_OFF), timestamp_to=iso(TO_OFF)
    )
    assert summary["data"]["runs"] == row.expected
    assert summary["data"]["events_delivered"] == 3 * row.expected
    # The same range in minute buckets, read from raw runs only, agrees.
    series = await get(
        client, url, tenant, time_type="timeseries", time_unit="minute",
        timestamp_from=iso(FROM_OFF), timestamp_to=iso(TO_OFF),
    )  # fmt: skip
    assert sum(point["value"] for point in series["data"]["runs"]) == row.expected


# --- SPEC §4.4: organisation health counts (now - days, now] -----------------------------------
ORG_HEALTH = [
    *around("1d_start", -DAY, before=0, on=0, after=1),
    *around("now", timedelta(0), before=1, on=1, after=0),
]


@table(ORG_HEALTH)
async def test_edges__organisation_health__start_exclusive_end_inclusive(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], row: Edge
) -> None:
    conn = (await make_connection(client, tenant, integration_type="webhook"))["id"]
    at = NOW + row.instant
    await push(client, tenant, conn, service_key, started_at=at - timedelta(minutes=1), completed_at=at)
    # An orphan counts (as an error) at started_at + window: here, the same instant.
    await push(client, tenant, conn, service_key, started_at=at - ORPHAN_WINDOW)
    when = at.strftime("%Y-%m-%dT%H:%M:%SZ") if row.expected else None
    for url in (
        f"/api/v1/spaces/{tenant.slug}/integration-health",
        f"/api/v1/organisations/{tenant.id}/integration-health/",
    ):
        body = await get(client, url, tenant, days=1)
        counts = (body["total_events"], body["success_count"], body["error_count"])
        assert counts == (2 * row.expected, row.expected, row.expected), url
        assert (body["last_success_at"], body["last_error_at"]) == (when, when)
        [webhook] = body["by_integration_type"]
        assert (webhook["total"], webhook["last_event_at"]) == (2 * row.expected, when)


# --- SPEC §2: a pending run is orphaned from started_at + orphan window on ----------------------
# expected: orphaned at that instant (counted as a failure, listed as an error)
ORPHANS = around("window_end", ORPHAN_WINDOW, before=False, on=True, after=True)


@table(ORPHANS)
async def test_edges__orphan_window__orphaned_exactly_when_the_window_ends(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, row: Edge
) -> None:
    conn = (await make_connection(client, tenant))["id"]
    started = NOW - HOUR
    pending = await push(client, tenant, conn, service_key, started_at=started)
    clock.now = started + row.instant
    # A run that started beside it and already finished is neither pending nor orphaned.
    done = await push(
        client, tenant, conn, service_key, started_at=started, completed_at=clock.now, events_delivered=1
    )
    url = tenant.connection_url(conn)
    # The runs list's outcome filter draws the same line in SQL.
    listed = {
        outcome: [r["id"] for r in (await get(client, url + "metrics/", tenant, outcome=outcome))["items"]]
        for outcome in ("pending", "orphaned", "succeeded")
    }
    assert listed == {
        "pending": [] if row.expected else [pending["id"]],
        "orphaned": [pending["id"]] if row.expected else [],
        "succeeded": [done["id"]],
    }
    body = await get(client, url + "telemetry/", tenant)
    assert body["failed_deliveries_last_24h"] == (1 if row.expected else 0)
    assert [e["run_id"] for e in body["recent_errors"]] == ([pending["id"]] if row.expected else [])
    run = await get(client, url + f"metrics/{pending['id']}/", tenant)
    assert run["outcome"] == ("orphaned" if row.expected else "pending")
    # Where it counts in the metrics: at started_at + window, and only once it is finished.
    summary = await get(
        client, url + "telemetry/metrics/", tenant, time_type="timesummary",
        timestamp_from=iso(started - HOUR), timestamp_to=iso(started + HOUR),
    )  # fmt: skip
    assert summary["data"]["failed_runs"] == (1 if row.expected else 0)


# --- SPEC §7.1: the timeline is [T, T + 24h) in error after one failed run at T ----------------
FAILED_AT = NOW - 30 * HOUR
TIMELINE = [
    *around("run", timedelta(0), before="idle", on="error", after="error"),
    *around("run_plus_24h", DAY, before="error", on="idle", after="idle"),
]


def status_at(intervals: list[dict[str, Any]], instant: datetime) -> str:
    matching = [i["status"] for i in intervals if i["start"] <= stamp(instant) < i["end"]]
    assert len(matching) == 1, (instant, intervals)
    return matching[0]


@table(TIMELINE)
async def test_edges__status_history__intervals_half_open_at_the_run_and_24h_later(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], row: Edge
) -> None:
    conn = (await make_connection(client, tenant))["id"]
    await push(
        client, tenant, conn, service_key,
        started_at=FAILED_AT - timedelta(minutes=1), completed_at=FAILED_AT, error="refused",
    )  # fmt: skip
    url = tenant.connection_url(conn) + "status-history/"
    whole = await get(
        client, url, tenant, **{"from": iso(FAILED_AT - HOUR), "to": iso(FAILED_AT + 25 * HOUR)}
    )
    assert status_at(whole["intervals"], FAILED_AT + row.instant) == row.expected
    assert [(i["started_at"], i["ended_at"], i["duration_seconds"]) for i in whole["incidents"]] == [
        (stamp(FAILED_AT), stamp(FAILED_AT + DAY), 86400)
    ]
    # A range that starts on the instant: its first interval is the status there.
    edge = FAILED_AT + row.instant
    starting = await get(client, url, tenant, **{"from": iso(edge), "to": iso(edge + HOUR)})
    assert starting["intervals"][0]["status"] == row.expected
    # A range that ends on the instant: it holds the second before, never the instant itself.
    ending = await get(client, url, tenant, **{"from": iso(edge - HOUR), "to": iso(edge)})
    assert ending["intervals"][-1]["status"] == status_at(whole["intervals"], edge - SECOND)
    assert ending["intervals"][-1]["end"] == stamp(edge)


# An incident [T, T + 24h) overlaps a range [from, to) when from < T + 24h and to > T.
INCIDENT_OVERLAP = [
    *around("range_ends_at_incident_start", timedelta(0), before=0, on=0, after=1),
    *around("range_starts_at_incident_end", DAY, before=1, on=0, after=0),
]


@table(INCIDENT_OVERLAP)
async def test_edges__incidents_and_uptime__incident_listed_when_it_overlaps_the_half_open_range(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], row: Edge
) -> None:
    conn = (await make_connection(client, tenant))["id"]
    await push(
        client, tenant, conn, service_key,
        started_at=FAILED_AT - timedelta(minutes=1), completed_at=FAILED_AT, error="refused",
    )  # fmt: skip
    edge = FAILED_AT + row.instant
    if row.edge.startswith("range_ends"):
        params = {"from": iso(FAILED_AT - HOUR), "to": iso(edge)}
    else:
        params = {"from": iso(edge), "to": iso(edge + HOUR)}
    body = await get(client, tenant.connection_url(conn) + "status-history/", tenant, **params)
    assert len(body["incidents"]) == row.expected
    in_error = body["time_in_status"].get("error", 0)
    assert in_error == (1 if row.expected else 0)  # exactly the one second inside the range
    assert body["uptime_percent"] == round(100 * (3600 - in_error) / 3600, 2)


# --- operations.md: retention deletes runs *older than* now - 90 days ---------------------------
RETENTION = [
    *around("completed_cutoff", -90 * DAY, before="deleted", on="kept", after="kept"),
    *around("orphan_cutoff", -90 * DAY - ORPHAN_WINDOW, before="deleted", on="kept", after="kept"),
]


@table(RETENTION)
async def test_edges__retention__deletes_strictly_older_than_the_cutoff(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    row: Edge,
) -> None:
    conn = (await make_connection(client, tenant, state="paused"))["id"]  # the tick seeds nothing
    # A second connection holds the same run alone: it is due only when that run goes.
    alone = (await make_connection(client, tenant, "alone", state="paused"))["id"]
    at = NOW + row.instant
    for holder in (alone, conn):
        if row.edge == "completed_cutoff":
            run = await push(
                client, tenant, holder, service_key, started_at=at - timedelta(minutes=1), completed_at=at
            )
        else:  # an orphan: its orphan time is started_at + window
            run = await push(client, tenant, holder, service_key, started_at=at)
    # A run a day past the cutoff makes the connection due whatever the row: the delete
    # statements themselves must draw the edge, not only the check for work.
    older = NOW - 91 * DAY
    await push(client, tenant, conn, service_key, started_at=older - timedelta(minutes=1), completed_at=older)
    # `pipepulse retention --dry-run` counts with its own statements: the same edge.
    async with db.session() as session:
        preview = await retention.preview(session, clock.now, settings.thresholds)
    result = await runner.tick(db, settings, NoDispatcher(), clock.now)
    assert result.deleted is not None
    assert result.deleted.total == 1 + (2 if row.expected == "deleted" else 0)
    assert preview.counts() == result.deleted.counts()
    # The connections it reports (`across N connection(s)`), previewed and deleted alike.
    due = {conn, alone} if row.expected == "deleted" else {conn}
    assert preview.connections == result.deleted.connections == due
    response = await client.get(tenant.connection_url(conn) + f"metrics/{run['id']}/", headers=tenant.read)
    assert response.status_code == (404 if row.expected == "deleted" else 200), response.text


# --- SPEC §7.2: late when the time since the last delivery *exceeds* the SLA ------------------
SLA = 3600
FRESHNESS = around("sla", timedelta(seconds=SLA), before=(False, 0), on=(False, 0), after=(True, 1))


@table(FRESHNESS)
async def test_edges__freshness__late_only_once_the_sla_is_exceeded(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, row: Edge
) -> None:
    delivered = NOW - 2 * HOUR
    clock.now = delivered - HOUR
    conn = (await make_connection(client, tenant, freshness_sla_seconds=SLA))["id"]
    clock.now = delivered
    await push(
        client, tenant, conn, service_key,
        started_at=delivered - timedelta(minutes=1), completed_at=delivered, events_delivered=5,
    )  # fmt: skip
    clock.now = delivered + row.instant
    body = await get(client, tenant.connection_url(conn) + "health/", tenant)
    late, late_by = row.expected
    assert body["freshness"]["last_delivery_at"] == stamp(delivered)
    assert (body["freshness"]["late"], body["freshness"]["late_by_seconds"]) == (late, late_by)


# --- SPEC §7.2: volume reads the latest complete hour H = [11:00, 12:00) and the same hour on ---
# each of the previous 7 days. expected: (events counted in H, baseline hours with a run)
VOLUME = [
    *around("hour_start", -HOUR, before=(0, 0), on=(5, 0), after=(5, 0)),
    *around("hour_end", timedelta(0), before=(5, 0), on=(0, 0), after=(0, 0)),
    *around("day1_end", -DAY, before=(0, 1), on=(0, 0), after=(0, 0)),
    *around("day7_start", -HOUR - 7 * DAY, before=(0, 0), on=(0, 1), after=(0, 1)),
    *around("day7_end", -7 * DAY, before=(0, 1), on=(0, 0), after=(0, 0)),
    *around("day8_start", -HOUR - 8 * DAY, before=(0, 0), on=(0, 0), after=(0, 0)),
]


@table(VOLUME)
async def test_edges__volume__latest_complete_hour_and_the_same_hour_on_seven_days(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], row: Edge
) -> None:
    conn = (await make_connection(client, tenant))["id"]
    at = NOW + row.instant
    await push(
        client, tenant, conn, service_key, started_at=at - timedelta(minutes=1), completed_at=at,
        events_delivered=5,
    )  # fmt: skip
    volume = (await get(client, tenant.connection_url(conn) + "health/", tenant))["volume"]
    actual, baseline_hours = row.expected
    assert volume["hour"] == stamp(NOW - HOUR)
    assert (volume["actual"], volume["baseline_hours"], volume["baseline"]) == (
        actual,
        baseline_hours,
        "insufficient",
    )
