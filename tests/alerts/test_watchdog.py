"""SPEC §7.5 watchdog: a channel asks for heartbeats, every healthy scheduler sends its own on
that interval (signed like every webhook delivery), and when a scheduler stops, they stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from standardwebhooks.webhooks import Webhook

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.world import add_channel, channels_url
from tests.conftest import FrozenClock, Tenant


def heartbeat_url(tenant: Tenant, channel_id: str) -> str:
    return channels_url(tenant) + channel_id + "/heartbeat/"


async def test_heartbeat__set_read_and_stopped__shown_on_the_channel(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    channel = await add_channel(client, tenant, receiver)
    assert channel["heartbeat_interval_seconds"] is None
    set_ = await client.post(
        heartbeat_url(tenant, channel["id"]), json={"interval_seconds": 60}, headers=tenant.write
    )
    assert set_.status_code == 200, set_.text
    assert set_.json()["heartbeat_interval_seconds"] == 60
    read = await client.get(channels_url(tenant) + channel["id"] + "/", headers=tenant.read)
    assert read.json()["heartbeat_interval_seconds"] == 60
    stopped = await client.delete(heartbeat_url(tenant, channel["id"]), headers=tenant.write)
    assert stopped.status_code == 204
    read = await client.get(channels_url(tenant) + channel["id"] + "/", headers=tenant.read)
    assert read.json()["heartbeat_interval_seconds"] is None


async def test_heartbeat__interval_under_a_minute_or_a_pagerduty_channel__422_saying_why(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    channel = await add_channel(client, tenant, receiver)
    short = await client.post(
        heartbeat_url(tenant, channel["id"]), json={"interval_seconds": 30}, headers=tenant.write
    )
    assert short.status_code == 422
    assert "60" in short.text
    pager = await client.post(
        channels_url(tenant),
        json={"name": "Pager", "kind": "pagerduty", "routing_key": "R0123456789abcdef"},
        headers=tenant.write,
    )
    assert pager.status_code == 201, pager.text
    refused = await client.post(
        heartbeat_url(tenant, pager.json()["id"]), json={"interval_seconds": 60}, headers=tenant.write
    )
    assert refused.status_code == 422
    assert "PagerDuty would open an incident" in refused.text
    assert "webhook channel" in refused.text


async def test_heartbeat__another_organisations_channel__404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, receiver: Receiver
) -> None:
    channel = await add_channel(client, tenant, receiver)
    response = await client.post(
        channels_url(other_tenant).replace(str(other_tenant.id), str(tenant.id), 1)
        + channel["id"]
        + "/heartbeat/",
        json={"interval_seconds": 60},
        headers=other_tenant.write,
    )
    assert response.status_code == 404


async def test_heartbeat__two_schedulers__each_sends_its_own_on_the_interval_signed(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    clock.now = datetime.now(UTC).replace(microsecond=0)  # the verifier refuses old timestamps
    channel = await add_channel(client, tenant, receiver)
    await client.post(
        heartbeat_url(tenant, channel["id"]), json={"interval_seconds": 120}, headers=tenant.write
    )
    start = clock.now
    for seconds in (0, 30, 60, 119, 120):
        clock.now = start + timedelta(seconds=seconds)
        await alert_pass(db, alert_settings, clock.now, scheduler="host-a:1")
        await alert_pass(db, alert_settings, clock.now, scheduler="host-b:2")
    beats = receiver.received("heartbeat")
    sent = sorted((d.json["data"]["scheduler"], d.json["occurred_at"]) for d in beats)
    first, second = (
        start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        (start + timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    assert sent == [("host-a:1", first), ("host-a:1", second), ("host-b:2", first), ("host-b:2", second)]
    body = beats[0].json
    assert body["organisation"]["slug"] == tenant.slug
    assert body["data"]["interval_seconds"] == 120
    assert body["data"]["channel"]["id"] == channel["id"]
    assert len({d.json["id"] for d in beats}) == 4  # each heartbeat its own message
    headers = {k.lower(): v for k, v in beats[-1].headers.items()}
    assert Webhook(channel["signing_secret"]).verify(beats[-1].body, headers)["type"] == "heartbeat"


async def test_heartbeat__scheduler_stopped__heartbeats_stop(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    channel = await add_channel(client, tenant, receiver)
    await client.post(
        heartbeat_url(tenant, channel["id"]), json={"interval_seconds": 60}, headers=tenant.write
    )
    settings = alert_settings.model_copy(update={"scheduler_alert_seconds": 0.05})
    stop = asyncio.Event()
    scheduler = asyncio.create_task(runner.run_forever(db, settings, NoDispatcher(), clock, stop))

    async def heartbeats_become(count: int) -> None:
        for _ in range(200):
            if len(receiver.received("heartbeat")) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} heartbeat(s), saw {len(receiver.received('heartbeat'))}")

    try:
        await heartbeats_become(1)  # at its first pass
        await asyncio.sleep(0.3)  # several passes within the minute: no second heartbeat
        assert len(receiver.received("heartbeat")) == 1
        clock.advance(seconds=60)
        await heartbeats_become(2)
    finally:
        stop.set()
        await scheduler
    clock.advance(seconds=600)  # ten intervals on, with the scheduler stopped
    await asyncio.sleep(0.3)
    assert len(receiver.received("heartbeat")) == 2
    # A replica still running goes on: the receiver tells which scheduler fell silent.
    await alert_pass(db, alert_settings, clock.now, scheduler="host-b:2")
    senders = [d.json["data"]["scheduler"] for d in receiver.received("heartbeat")]
    assert senders == [runner.scheduler_id(), runner.scheduler_id(), "host-b:2"]


async def test_heartbeat__slack_channel__a_short_message_naming_the_scheduler(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    channel = await add_channel(client, tenant, receiver, kind="slack")
    await client.post(
        heartbeat_url(tenant, channel["id"]), json={"interval_seconds": 300}, headers=tenant.write
    )
    await alert_pass(db, alert_settings, clock.now, scheduler="host-a:1")
    [message] = receiver.received()
    assert message.json["text"].startswith("pipepulse is evaluating (heartbeat): Scheduler host-a:1")
    assert "it sends one every 5 min." in message.json["text"]


async def test_heartbeat__read__each_schedulers_last_heartbeat_and_why_it_failed(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    channel = await add_channel(client, tenant, receiver)
    await client.post(
        heartbeat_url(tenant, channel["id"]), json={"interval_seconds": 60}, headers=tenant.write
    )
    empty = await client.get(heartbeat_url(tenant, channel["id"]), headers=tenant.read)
    assert empty.json() == {"interval_seconds": 60, "schedulers": []}
    receiver.statuses = [204, 503]
    sent_at = clock.now
    await alert_pass(db, alert_settings, sent_at, scheduler="host-a:1")
    await alert_pass(db, alert_settings, sent_at, scheduler="host-b:2")
    read = (await client.get(heartbeat_url(tenant, channel["id"]), headers=tenant.read)).json()
    stamp = sent_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    a, b = read["schedulers"]
    assert a == {
        "scheduler_id": "host-a:1",
        "next_at": (sent_at + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "last_sent_at": stamp,
        "last_delivered_at": stamp,
        "last_status_code": 204,
        "last_error": None,
    }
    assert (b["scheduler_id"], b["last_delivered_at"], b["last_status_code"]) == ("host-b:2", None, 503)
    assert b["last_error"].startswith("HTTP 503")
    assert "s3cr3t-query" not in str(read)
