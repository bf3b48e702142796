"""GET {conn}/health/ (SPEC §7.2) and the freshness_sla_seconds connection field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

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


# A status that has held for days is found by skipping back over the hours the hourly rollups
# prove steady (history/service.py's steady skip), then reading the runs around where it began.
# Each history below changes status once, days ago, at an instant only the runs tell exactly;
# hours that the rollups misread would move the skip past that instant and "since" with it.
BROKE = NOW - timedelta(days=4)  # 2026-04-16 12:00, the hour the status last changed in
FIRST = NOW - timedelta(days=6, minutes=30)


def _hourly(prefix: str, first: datetime, until: datetime, skip: range = range(0)) -> list[Run]:
    """A delivering run at every hour's half past from ``first`` to before ``until`` (hours
    numbered from ``first`` in ``skip`` left out)."""
    count = int((until - first) / HOUR)
    return [
        Run(id=f"{prefix}{i:04d}", started_at=at - timedelta(minutes=1), completed_at=at, events_delivered=10)
        for i in range(count)
        if i not in skip
        for at in [first + i * HOUR]
    ]


def _orphan(run_id: str, finishes: datetime) -> Run:
    # Never reported: it finishes (as an orphan) 15 minutes after it started, in the next hour.
    return Run(id=run_id, started_at=finishes - timedelta(minutes=15))


def _partial(run_id: str, at: datetime) -> Run:
    return Run(
        id=run_id, started_at=at - timedelta(minutes=1), completed_at=at, events_delivered=4, batches_dlq=2
    )


async def _health_with_a_neighbour(
    client: httpx.AsyncClient, tenant: Tenant, key: dict[str, str], runs: list[Run]
) -> dict[str, Any]:
    """The health of a connection with ``runs``, beside a connection of the same organisation
    that delivered every six hours all along (hours of its own that must not be read)."""
    neighbour = tenant.connection_url(await create_connection(client, tenant, name="Neighbour"))
    for run in _hourly("n", FIRST, NOW)[::6]:
        await push(client, neighbour, key, run)
    url = tenant.connection_url(await create_connection(client, tenant))
    for run in runs:
        await push(client, url, key, run)
    body: dict[str, Any] = (await client.get(url + "health/", headers=tenant.read)).json()
    return body


@pytest.mark.parametrize(
    "failing",
    [
        pytest.param([_orphan("lost", BROKE + timedelta(minutes=10))], id="orphan"),
        pytest.param(
            [_partial("p", BROKE + timedelta(minutes=5)), failed(0, BROKE + timedelta(minutes=10))],
            id="partial_and_failed",
        ),
        pytest.param(
            [failed(0, BROKE + timedelta(minutes=5)), _orphan("lost", BROKE + timedelta(minutes=10))],
            id="failed_and_orphan",
        ),
    ],
)
async def test_health__active_for_days_since_failing_runs_left_the_window__since_exactly_24h_after_the_last(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], failing: list[Run]
) -> None:
    # Delivering every hour for six days; in one hour four days ago, failing runs (an orphan
    # finishing 15 minutes after it started, a partial run, a failed one) among them.
    runs = _hourly("ok", FIRST, NOW) + failing

    body = await _health_with_a_neighbour(client, tenant, service_key, runs)

    assert body["status"] == "active"
    assert body["reason"]["code"] == "delivering"
    # Degraded while the last failing run (12:10) was in the window: active from 24 h later.
    assert body["since"] == "2026-04-17T12:10:00Z"
    assert body["open_incident"] is None


async def test_health__active_again_after_a_day_of_runs_that_delivered_nothing__since_the_first_delivery(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    runs = _hourly("ok", FIRST, NOW)
    # From 2026-04-15 13:30 to 2026-04-16 14:30 every run delivered nothing: idle from 24 h after
    # the last delivery (2026-04-15 12:30) until the next one (2026-04-16 15:30).
    quiet = (BROKE - timedelta(hours=23), BROKE + 3 * HOUR)
    runs = [
        Run(id=r.id, started_at=r.started_at, completed_at=r.completed_at, events_delivered=0)
        if r.completed_at is not None and quiet[0] <= r.completed_at <= quiet[1]
        else r
        for r in runs
    ]

    body = await _health_with_a_neighbour(client, tenant, service_key, runs)

    assert body["status"] == "active"
    assert body["since"] == "2026-04-16T15:30:00Z"


async def test_health__degraded_for_days_after_an_error_of_three_orphans__since_the_run_that_ended_it(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    # Flaky for six days: a delivering run every hour and a failed one every six hours (03:50,
    # 09:50, …). Four days ago no run was reported for three hours, and each hour's run was
    # orphaned (12:10, 13:10, 14:10): error from the third, degraded again from 15:30.
    first_hour = FIRST.replace(minute=0)
    gap = range(int((BROKE - FIRST) / HOUR) + 1, int((BROKE - FIRST) / HOUR) + 4)
    runs = _hourly("ok", FIRST, NOW, skip=gap)
    runs += [
        failed(i, at)
        for i in range(6 * 24)
        for at in [first_hour + i * HOUR + timedelta(minutes=50)]
        if at.hour % 6 == 3 and at < NOW
    ]
    runs += [_orphan(f"lost{i}", BROKE + i * HOUR + timedelta(minutes=10)) for i in range(3)]

    body = await _health_with_a_neighbour(client, tenant, service_key, runs)

    assert body["status"] == "degraded"
    assert body["reason"]["code"] == "failing_runs_24h"
    assert body["since"] == "2026-04-16T15:30:00Z"
    assert body["open_incident"] is None


async def test_health__degraded_for_days_after_a_spell_without_failures__since_the_first_failure(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    # Delivering every hour for six days, and from four days ago a failed run every six hours
    # (15:50, 21:50, …): active, then degraded from the first failure. The neighbour's runs are
    # orphaned every six hours all along: failing runs of another connection, not of this one.
    first_hour = FIRST.replace(minute=0)
    runs = _hourly("ok", FIRST, NOW)
    runs += [
        failed(i, at)
        for i in range(6 * 24)
        for at in [first_hour + i * HOUR + timedelta(minutes=50)]
        if at.hour % 6 == 3 and BROKE <= at < NOW
    ]
    neighbour = tenant.connection_url(await create_connection(client, tenant, name="Neighbour"))
    for i in range(6 * 4):
        await push(
            client,
            neighbour,
            service_key,
            _orphan(f"lost{i}", first_hour + i * 6 * HOUR + timedelta(minutes=10)),
        )
    url = tenant.connection_url(await create_connection(client, tenant))
    for run in runs:
        await push(client, url, service_key, run)

    body = (await client.get(url + "health/", headers=tenant.read)).json()

    assert body["status"] == "degraded"
    assert body["since"] == "2026-04-16T15:50:00Z"


async def test_health__error_opened_now_and_a_success_a_microsecond_ahead__streak_from_the_first_failure(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    # The third failure finishes exactly now, and a reporter whose clock runs a microsecond
    # ahead reports a success finishing after now: not finished yet, so the status now is
    # error, and the incident's streak goes back to the first failure, past that success.
    url = tenant.connection_url(await create_connection(client, tenant))
    await push(client, url, service_key, ok(0, NOW - 4 * HOUR))
    for i in (1, 2, 3):
        await push(client, url, service_key, failed(i, NOW - (3 - i) * HOUR, f"denied {i}"))
    await push(client, url, service_key, ok(4, NOW + timedelta(microseconds=1)))

    body = (await client.get(url + "health/", headers=tenant.read)).json()

    assert body["status"] == "error"
    assert body["since"] == "2026-04-20T12:00:00Z"
    assert body["open_incident"] == {
        "started_at": "2026-04-20T12:00:00Z",
        "ended_at": None,
        "streak_started_at": "2026-04-20T10:00:00Z",
        "duration_seconds": 0.0,
        "first_error": "denied 1",
        "first_error_run_id": "f1",
        "failing_runs": 3,
    }


async def test_health__baseline_hour_of_an_orphan_started_the_hour_before__counted_in_the_hour_it_finished(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))
    neighbour = tenant.connection_url(await create_connection(client, tenant, name="Neighbour"))
    hour = NOW - HOUR
    for day in range(1, 5):
        await push(client, url, service_key, ok(day, hour - timedelta(days=day) + timedelta(minutes=10), 50))
    # Orphaned at 11:05 seven days ago, in the oldest baseline hour: started at 10:50, the
    # hour before, with no events.
    await push(client, url, service_key, _orphan("lost", hour - timedelta(days=7) + timedelta(minutes=5)))
    # Another connection's orphan, in the sixth day's hour: not a run of this one.
    await push(
        client, neighbour, service_key, _orphan("lost", hour - timedelta(days=6) + timedelta(minutes=5))
    )

    volume = (await client.get(url + "health/", headers=tenant.read)).json()["volume"]

    assert volume["baseline"] == "ok"
    assert volume["baseline_hours"] == 5
    assert volume["expected"] == 50.0


async def test_health__latest_hour_with_only_an_orphan_or_a_run_without_events__actual_zero(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    hour = NOW - HOUR
    orphaned = tenant.connection_url(await create_connection(client, tenant, name="Orphaned"))
    await push(client, orphaned, service_key, _orphan("lost", hour + timedelta(minutes=20)))
    empty = tenant.connection_url(await create_connection(client, tenant, name="Empty"))
    await push(client, empty, service_key, ok(0, hour + timedelta(minutes=20), events=0))

    actual = {}
    for name, url in (("orphaned", orphaned), ("empty", empty)):
        volume = (await client.get(url + "health/", headers=tenant.read)).json()["volume"]
        actual[name] = (volume["hour"], volume["actual"])

    assert actual == {"orphaned": ("2026-04-20T11:00:00Z", 0), "empty": ("2026-04-20T11:00:00Z", 0)}
