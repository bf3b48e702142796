"""Incremental evaluation (SPEC §7.3): a pass reads only the connections whose inputs changed
since the last pass or whose horizon passed, on the real database, through the real API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pipepulse.alerts import evaluation, selection
from pipepulse.config import Settings
from pipepulse.db.models import AlertEvent
from pipepulse.db.session import Database
from tests.alerts.test_evaluation import make_connection, push
from tests.conftest import FrozenClock, Tenant

# Twenty minutes past the hour, so a 24-hour edge never falls on an hour boundary (where
# every connection is visited for its volume verdict anyway).
T0 = datetime(2031, 4, 21, 12, 20, tzinfo=UTC)
# The full pass that catches backfills is far apart here: each pass below is incremental.
NEVER = timedelta(days=365)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0 - timedelta(days=2))


async def evaluate(db: Database, settings: Settings, tracker: selection.Tracker, at: datetime) -> Any:
    return await evaluation.evaluate(db, at, settings.thresholds, tracker=tracker)


async def status_events(db: Database, connection_id: str) -> list[tuple[str, datetime]]:
    async with db.session() as session:
        rows = await session.execute(
            select(AlertEvent.data, AlertEvent.at)
            .where(AlertEvent.connection_id == connection_id, AlertEvent.type == "connection.status_changed")
            .order_by(AlertEvent.at)
        )
        return [(data["to"], at) for data, at in rows]


async def test_incremental__a_report_is_read_in_the_next_pass__a_quiet_connection_is_not(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    week = 7 * 86_400
    broken = await make_connection(client, tenant, name="Broken", freshness_sla_seconds=week)
    quiet = await make_connection(client, tenant, name="Quiet", freshness_sla_seconds=week)
    edited = await make_connection(client, tenant, name="Edited", freshness_sla_seconds=week)
    for cid in (broken, quiet, edited):
        await push(client, tenant, service_key, clock, cid, T0 - timedelta(minutes=10), events=100)
    tracker = selection.Tracker(full_every=NEVER)

    first = await evaluate(db, alert_settings, tracker, T0)
    assert (first.connections, first.skipped) == (3, 0)  # the first pass reads everyone
    nothing = await evaluate(db, alert_settings, tracker, T0 + timedelta(seconds=2))
    assert (nothing.connections, nothing.skipped) == (0, 3)

    for minute in (1, 2, 3):
        await push(client, tenant, service_key, clock, broken, T0 + timedelta(minutes=minute), error="boom")
    response = await client.patch(
        tenant.connection_url(edited), json={"name": "Renamed"}, headers=tenant.write
    )
    assert response.status_code == 200, response.text
    after = await evaluate(db, alert_settings, tracker, T0 + timedelta(minutes=3, seconds=1))
    assert (after.connections, after.skipped) == (2, 1)  # the broken one and the edited one
    assert await status_events(db, broken) == [
        ("active", T0 - timedelta(minutes=10)),
        ("error", T0 + timedelta(minutes=3)),
    ]
    assert await status_events(db, quiet) == [("active", T0 - timedelta(minutes=10))]

    again = await evaluate(db, alert_settings, tracker, T0 + timedelta(minutes=4))
    assert (again.connections, again.events) == (0, 0)


async def test_incremental__a_24_hour_edge__visited_exactly_when_it_passes(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    cid = await make_connection(client, tenant, freshness_sla_seconds=7 * 86_400)
    await push(client, tenant, service_key, clock, cid, T0, error="boom")
    await push(client, tenant, service_key, clock, cid, T0 + timedelta(hours=1), events=100)
    tracker = selection.Tracker(full_every=NEVER)

    await evaluate(db, alert_settings, tracker, T0 + timedelta(hours=2))  # degraded: one failure today
    edge = T0 + timedelta(days=1)  # the failure leaves the 24-hour window
    # The pass after the hour boundary knows the next horizon is the edge, not the next hour.
    assert (await evaluate(db, alert_settings, tracker, edge - timedelta(minutes=15))).connections == 1
    just_before = await evaluate(db, alert_settings, tracker, edge - timedelta(seconds=1))
    assert just_before.connections == 0
    at_edge = await evaluate(db, alert_settings, tracker, edge)
    assert at_edge.connections == 1
    # Error from the failure, degraded from the good run after it, active once it is a day old.
    assert await status_events(db, cid) == [("degraded", T0 + timedelta(hours=1)), ("active", edge)]


async def test_incremental__a_freshness_deadline__visited_once_the_sla_is_exceeded(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    cid = await make_connection(client, tenant, freshness_sla_seconds=600)
    await push(client, tenant, service_key, clock, cid, T0, events=100)
    tracker = selection.Tracker(full_every=NEVER)
    await evaluate(db, alert_settings, tracker, T0 + timedelta(minutes=1))
    deadline = T0 + timedelta(minutes=10)  # late only once the SLA is exceeded
    assert (await evaluate(db, alert_settings, tracker, deadline)).connections == 0
    late = await evaluate(db, alert_settings, tracker, deadline + timedelta(seconds=1))
    assert (late.connections, late.events) == (1, 1)


async def test_incremental__a_full_pass__on_its_cadence(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    cid = await make_connection(client, tenant, freshness_sla_seconds=7 * 86_400)
    await push(client, tenant, service_key, clock, cid, T0 - timedelta(minutes=1), events=100)
    tracker = selection.Tracker(full_every=timedelta(minutes=10))
    assert (await evaluate(db, alert_settings, tracker, T0)).connections == 1
    assert (await evaluate(db, alert_settings, tracker, T0 + timedelta(minutes=9))).connections == 0
    assert (await evaluate(db, alert_settings, tracker, T0 + timedelta(minutes=10))).connections == 1
