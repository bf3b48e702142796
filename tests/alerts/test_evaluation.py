"""SPEC §7.3 end to end: runs go in through the API, the scheduler's alert pass evaluates them,
and a real receiver on loopback gets each group notification (§7.4) exactly once, signed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from pipepulse.wire.webhook_signature import verify
from tests.alerts.receiver import Receiver
from tests.alerts.world import add_channel, add_rule, log_url
from tests.conftest import FrozenClock, Tenant, iso

# Far from the wall clock (a Monday, as the suite's usual instant is): anything in the
# evaluation that read the real time instead of the evaluation instant would show here.
DAY0 = datetime(2031, 4, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(DAY0 - timedelta(days=30))


async def push(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    connection_id: str,
    completed_at: datetime,
    *,
    events: int = 0,
    error: str | None = None,
) -> None:
    """A finished run, pushed as a loader would (the clock moves on to its completion)."""
    clock.now = max(clock.now, completed_at)
    body: dict[str, Any] = {
        "started_at": iso(completed_at - timedelta(minutes=2)),
        "completed_at": iso(completed_at),
        "events_delivered": events,
        "batches_dlq": 0,
        "error": error,
    }
    response = await client.post(
        tenant.connection_url(connection_id) + "metrics/", json=body, headers=service_key
    )
    assert response.status_code == 201, response.text


async def make_connection(client: httpx.AsyncClient, tenant: Tenant, **extra: Any) -> str:
    body = {"name": "Finance replica", "type": "postgres", "state": "connected", **extra}
    response = await client.post(tenant.connections_url(), json=body, headers=tenant.write)
    assert response.status_code == 201, response.text
    connection_id: str = response.json()["id"]
    return connection_id


async def run_pass(
    db: Database, settings: Settings, clock: FrozenClock, at: datetime, times: int = 2
) -> None:
    """The scheduler's alert pass, twice (the second must find nothing new)."""
    clock.now = at
    for _ in range(times):
        await alert_pass(db, settings, at)


async def test_alerts__error_volume_late_recovery__each_delivered_once_signed_and_logged(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    connection_id = await make_connection(client, tenant)
    for day in range(1, 8):  # the volume baseline: the 12:00 hour of the previous 7 days
        await push(
            client,
            tenant,
            service_key,
            clock,
            connection_id,
            DAY0 - timedelta(days=day, minutes=-30),
            events=1000,
        )
    await push(client, tenant, service_key, clock, connection_id, DAY0 - timedelta(minutes=30), events=1000)
    channel = await add_channel(client, tenant, receiver)
    await add_rule(client, tenant, channel["id"], ["status:error", "recovered", "late", "volume_anomaly"])

    # First evaluation: idle → active is an event no rule asks for; nothing late, no verdict.
    await run_pass(db, alert_settings, clock, DAY0)
    assert receiver.received() == []

    # Three failing runs: error from the instant the third finished.
    for minute in (10, 20, 30):
        await push(
            client, tenant, service_key, clock, connection_id, DAY0 + timedelta(minutes=minute), error="boom"
        )
    await run_pass(db, alert_settings, clock, DAY0 + timedelta(minutes=31))
    # The 12:00 hour delivered nothing against 1,000 a day before: a drop, judged once complete.
    await run_pass(db, alert_settings, clock, DAY0 + timedelta(hours=1, minutes=5))
    # Last delivery 11:30, SLA 2 x 1 h + 15 min: late from 13:45.
    await run_pass(db, alert_settings, clock, DAY0 + timedelta(hours=1, minutes=50))
    # A good run: degraded and fresh (neither asked for); 24 h after the last failure, active.
    await push(client, tenant, service_key, clock, connection_id, DAY0 + timedelta(hours=2), events=900)
    await run_pass(db, alert_settings, clock, DAY0 + timedelta(hours=2, minutes=1))
    await push(client, tenant, service_key, clock, connection_id, DAY0 + timedelta(days=1), events=800)
    await run_pass(db, alert_settings, clock, DAY0 + timedelta(days=1, minutes=31))

    got = receiver.received()
    notes = [verify(d.body, d.signature, channel["signing_secret"], now=d.signed_at) for d in got]
    # One group per connection (the default group_by), told each change of its alerts.
    summary = [
        (
            n["status"],
            n["occurred_at"],
            [(a["labels"]["condition"], a["started_at"], a["ended_at"]) for a in n["alerts"]],
        )
        for n in notes
    ]
    error_alert = ("error", "2031-04-21T12:30:00Z", None)
    volume_alert = ("volume_anomaly", "2031-04-21T13:00:00Z", None)
    late_alert = ("late", "2031-04-21T13:45:00Z", None)
    error_ended = ("error", "2031-04-21T12:30:00Z", "2031-04-21T14:00:00Z")
    assert summary == [
        ("firing", "2031-04-21T12:31:00Z", [error_alert]),
        ("firing", "2031-04-21T13:05:00Z", [error_alert, volume_alert]),
        ("firing", "2031-04-21T13:50:00Z", [error_alert, volume_alert, late_alert]),
        # Fresh again is not asked for (no `fresh`): the late alert leaves the group unsaid; the
        # 13:00 hour, judged at 14:01 against no baseline, ends the volume alert.
        (
            "resolved",
            "2031-04-21T14:01:00Z",
            [error_ended, ("volume_anomaly", "2031-04-21T13:00:00Z", "2031-04-21T14:00:00Z")],
        ),
    ]
    # Degraded to active a day later: the group closed, and no alert of this rule changed.
    first, volume, late = notes[0], notes[1]["alerts"][1], notes[2]["alerts"][2]
    assert {n["group"]["id"] for n in notes} == {first["group"]["id"]}
    assert first["group"]["key"] == {"connection": connection_id}
    [error] = first["alerts"]
    assert error["from"] == "active"
    assert error["reason"]["code"] == "latest_runs_failing"
    assert error["connection"] == {"id": connection_id, "name": "Finance replica", "type": "postgres"}
    assert first["organisation"] == {"id": tenant.id, "slug": tenant.slug}
    assert error["links"]["dashboard"] == (
        f"https://pipepulse.example.com/orgs/{tenant.id}/connections/{connection_id}/"
    )
    assert volume["reason"] == {
        "code": "drop",
        "text": "0 events delivered in the hour from 2031-04-21T12:00:00Z, "
        "outside the expected band of 750.0 to 1250.0.",
    }
    assert "8100 seconds" in late["reason"]["text"]
    assert "2031-04-21T11:30:00Z" in late["reason"]["text"]
    assert all(d.headers["Pipepulse-Notification-Id"] == n["id"] for d, n in zip(got, notes, strict=True))

    log = (await client.get(log_url(tenant), headers=tenant.read)).json()
    assert sorted((n["id"], n["state"], n["attempts"]) for n in log["items"]) == sorted(
        (n["id"], "delivered", 1) for n in notes
    )


async def test_alerts__first_evaluation_of_a_long_error__dated_where_it_began(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    connection_id = await make_connection(client, tenant)
    began = DAY0 - timedelta(days=20)
    for half_days in range(40):  # failing twice a day for 20 days: error all along
        completed = began + timedelta(hours=12 * half_days)
        await push(client, tenant, service_key, clock, connection_id, completed, error="unreachable")
    channel = await add_channel(client, tenant, receiver)
    await add_rule(client, tenant, channel["id"], ["status:error"])
    await run_pass(db, alert_settings, clock, DAY0)
    [delivery] = receiver.received()
    [alert] = delivery.json["alerts"]
    assert alert["from"] == "idle"
    assert alert["started_at"] == began.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_alerts__first_evaluation_of_an_error_since_yesterday__from_the_interval_before(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    connection_id = await make_connection(client, tenant)
    for quarter in range(12, 3, -1):  # delivering every six hours for two days
        completed = DAY0 - timedelta(hours=6 * quarter)
        await push(client, tenant, service_key, clock, connection_id, completed, events=100)
    third = DAY0 - timedelta(hours=20)
    for hours in (2, 1, 0):  # then three failures yesterday: error from the third
        completed = third - timedelta(hours=hours)
        await push(client, tenant, service_key, clock, connection_id, completed, error="refused")
    channel = await add_channel(client, tenant, receiver)
    await add_rule(client, tenant, channel["id"], ["status:error"])

    # The installation starts watching now: the change is dated yesterday, from what it was.
    await run_pass(db, alert_settings, clock, DAY0)
    [delivery] = receiver.received()
    [alert] = delivery.json["alerts"]
    assert alert["from"] == "degraded"
    assert alert["labels"]["condition"] == "error"
    assert alert["started_at"] == third.strftime("%Y-%m-%dT%H:%M:%SZ")
