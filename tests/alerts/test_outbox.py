"""The outbox's delivery guarantees (SPEC §7.3) against a real receiver on loopback: the same id
on every attempt, backoff and the 24-hour budget on a test clock, 410, hold-back, replicas."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx

from pipepulse.alerts import evaluation
from pipepulse.alerts import groups as alert_groups
from pipepulse.config import Settings
from pipepulse.db.engine import create_engine
from pipepulse.db.session import Database
from pipepulse.delivery import service as delivery
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.test_evaluation import make_connection, push
from tests.alerts.world import add_channel, add_rule, channels_url, log_url
from tests.conftest import FrozenClock, Tenant


async def break_connection(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    connection_id: str,
) -> datetime:
    """A good run, then three failing ones: in error from the third one's completion."""
    start = clock.now
    await push(client, tenant, service_key, clock, connection_id, start, events=100)
    for minute in (1, 2, 3):
        await push(
            client, tenant, service_key, clock, connection_id, start + timedelta(minutes=minute), error="boom"
        )
    return start + timedelta(minutes=3)


async def log_items(client: httpx.AsyncClient, tenant: Tenant, **query: str) -> list[dict[str, Any]]:
    body = (await client.get(log_url(tenant), params=query, headers=tenant.read)).json()
    items: list[dict[str, Any]] = body["items"]
    return items


async def setup_error_notification(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    receiver: Receiver,
    *,
    hold: int = 0,
) -> tuple[dict[str, Any], str, datetime]:
    connection_id = await make_connection(client, tenant)
    channel = await add_channel(client, tenant, receiver)
    await add_rule(client, tenant, channel["id"], ["status:error", "recovered"], min_duration_seconds=hold)
    broken_at = await break_connection(client, tenant, service_key, clock, connection_id)
    return channel, connection_id, broken_at


async def test_delivery__receiver_answers_500_twice__retried_with_backoff_and_the_same_id(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    await setup_error_notification(client, tenant, service_key, clock, receiver)
    receiver.statuses = [500, 503]
    first = clock.now
    await alert_pass(db, alert_settings, first)
    [item] = await log_items(client, tenant)
    assert (item["state"], item["attempts"], item["last_status_code"]) == ("pending", 1, 500)
    assert item["next_attempt_at"] == (first + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    await alert_pass(db, alert_settings, first + timedelta(seconds=59))  # not due yet
    assert len(receiver.received()) == 1
    await alert_pass(db, alert_settings, first + timedelta(minutes=1))
    [item] = await log_items(client, tenant)
    assert (item["state"], item["attempts"], item["last_status_code"]) == ("pending", 2, 503)
    assert item["next_attempt_at"] == (first + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await alert_pass(db, alert_settings, first + timedelta(minutes=3))

    [item] = await log_items(client, tenant)
    assert (item["state"], item["attempts"], item["last_error"]) == ("delivered", 3, None)
    deliveries = receiver.received()
    assert len(deliveries) == 3
    assert {d.headers["Pipepulse-Notification-Id"] for d in deliveries} == {item["id"]}
    assert {d.json["id"] for d in deliveries} == {item["id"]}
    assert len({d.signed_at for d in deliveries}) == 3  # each attempt signed when it is sent


async def test_delivery__receiver_always_fails__given_up_after_24_hours(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    await setup_error_notification(client, tenant, service_key, clock, receiver)
    receiver.default = 500
    due = at = clock.now
    await alert_pass(db, alert_settings, due)  # records the event, queues and tries it once
    while True:
        [item] = await log_items(client, tenant)
        if item["state"] != "pending":
            break
        at = datetime.fromisoformat(item["next_attempt_at"])
        await delivery.deliver_due(db, at, allow_private=True)
    assert item["state"] == "failed"
    assert item["attempts"] == 29
    assert at <= due + timedelta(hours=24)
    assert "given up after 29 attempts over 24 hours" in item["last_error"]
    await delivery.deliver_due(db, due + timedelta(days=3), allow_private=True)
    assert len(receiver.received()) == 29


async def test_delivery__receiver_answers_410__channel_disabled_and_the_rest_given_up(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    channel, connection_id, _ = await setup_error_notification(client, tenant, service_key, clock, receiver)
    # A second rule on the same channel: two notifications for one event, one pass.
    await add_rule(client, tenant, channel["id"], ["status:error"], connection_ids=[connection_id])
    # A receiver that is gone answers 410 to whatever reaches it (both sends of the pass may).
    receiver.default = 410
    await alert_pass(db, alert_settings, clock.now)
    answers = [(i["state"], i["last_status_code"]) for i in await log_items(client, tenant)]
    assert ("failed", 410) in answers
    stored = (await client.get(channels_url(tenant) + channel["id"] + "/", headers=tenant.read)).json()
    assert stored["enabled"] is False
    assert "410" in stored["disabled_reason"]
    await alert_pass(db, alert_settings, clock.now + timedelta(hours=1))
    assert len(receiver.received()) <= 2
    assert all(i["state"] == "failed" for i in await log_items(client, tenant))


async def test_delivery__host_turns_private_after_creation__refused_at_send_time(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    await setup_error_notification(client, tenant, service_key, clock, receiver)
    strict = alert_settings.model_copy(update={"alerts_allow_private_urls": False})
    await alert_pass(db, strict, clock.now)
    [item] = await log_items(client, tenant)
    assert item["state"] == "pending"
    assert "loopback" in item["last_error"]
    assert "s3cr3t-query" not in item["last_error"]
    assert receiver.received() == []


async def test_hold_back__status_flaps_back_before_min_duration__nothing_sent(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    _, connection_id, broken_at = await setup_error_notification(
        client, tenant, service_key, clock, receiver, hold=600
    )
    await alert_pass(db, alert_settings, broken_at + timedelta(minutes=1))
    # The alert is recorded in its group, held back from every notification.
    groups = await client.get(f"/api/v1/organisations/{tenant.id}/alert-groups/", headers=tenant.read)
    [group] = groups.json()["items"]
    [alert] = group["alerts"]
    assert (alert["labels"]["connection"], alert["ended_at"]) == (connection_id, None)
    assert await log_items(client, tenant) == []
    # Five minutes into the error a run succeeds: degraded, before the ten minutes were up.
    await push(client, tenant, service_key, clock, connection_id, broken_at + timedelta(minutes=5), events=10)
    await alert_pass(db, alert_settings, broken_at + timedelta(minutes=6))
    await alert_pass(db, alert_settings, broken_at + timedelta(minutes=11))
    assert await log_items(client, tenant) == []
    assert receiver.received() == []


async def test_hold_back__status_lasts_min_duration__sent_when_it_has(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    _, _, broken_at = await setup_error_notification(client, tenant, service_key, clock, receiver, hold=600)
    await alert_pass(db, alert_settings, broken_at + timedelta(minutes=1))
    await alert_pass(db, alert_settings, broken_at + timedelta(minutes=9, seconds=59))
    assert receiver.received() == []
    await alert_pass(db, alert_settings, broken_at + timedelta(minutes=10))
    [delivered] = receiver.received()
    [alert] = delivered.json["alerts"]
    assert alert["started_at"] == broken_at.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_schedulers__two_ticking_at_once__each_event_recorded_and_delivered_once(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    ids = [await make_connection(client, tenant) for _ in range(5)]
    channel = await add_channel(client, tenant, receiver)
    await add_rule(client, tenant, channel["id"], ["status:error", "recovered"])
    for connection_id in ids:
        await break_connection(client, tenant, service_key, clock, connection_id)
    replicas = [Database(create_engine(alert_settings.resolved_database_url)) for _ in range(2)]
    try:
        for _ in range(3):
            await asyncio.gather(
                *(
                    runner.tick(replica, alert_settings, NoDispatcher(), clock.now, ident=f"replica-{i}")
                    for i, replica in enumerate(replicas)
                )
            )
    finally:
        for replica in replicas:
            await replica.dispose()
    got = receiver.received("alert_group")
    assert sorted(a["connection"]["id"] for d in got for a in d.json["alerts"]) == sorted(ids)
    assert len({d.headers["Pipepulse-Notification-Id"] for d in got}) == 5
    items = await log_items(client, tenant)
    assert len(items) == 5
    assert {i["state"] for i in items} == {"delivered"}


async def test_delivery__receiver_slower_than_the_pass_budget__released_for_the_next_pass(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    await setup_error_notification(client, tenant, service_key, clock, receiver)
    receiver.delay_seconds = 2.0
    await evaluation.evaluate(db, clock.now, alert_settings.thresholds)
    await alert_groups.notify_due(db, clock.now, public_url=alert_settings.public_url)
    started = asyncio.get_running_loop().time()
    result = await delivery.deliver_due(db, clock.now, allow_private=True, budget_seconds=0.3)
    assert asyncio.get_running_loop().time() - started < 1.5
    assert result.retrying == 1
    [item] = await log_items(client, tenant)
    assert item["state"] == "pending"
    assert "ran out of time" in item["last_error"]
    receiver.delay_seconds = 0.0
    await delivery.deliver_due(db, clock.now, allow_private=True)
    [item] = await log_items(client, tenant)
    assert item["state"] == "delivered"
