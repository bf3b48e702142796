"""What each channel last did, on its GET and in the list: the last delivery (time, state, HTTP
status or the scrubbed error) and each scheduler's last heartbeat, read in a fixed number of
statements however many channels there are, and never from another organisation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.world import add_channel, channels_url
from tests.conftest import FrozenClock, Tenant


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def send_test(client: httpx.AsyncClient, tenant: Tenant, channel_id: str) -> dict[str, Any]:
    response = await client.post(channels_url(tenant) + channel_id + "/test/", headers=tenant.write)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_channel_status__new_channel__no_delivery_and_no_heartbeats(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    channel = await add_channel(client, tenant, receiver)
    one = (await client.get(channels_url(tenant) + channel["id"] + "/", headers=tenant.read)).json()
    assert (one["last_delivery"], one["heartbeats"]) == (None, [])


async def test_channel_status__delivered_and_failed__each_channel_shows_its_own_last_delivery(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, clock: FrozenClock
) -> None:
    good = await add_channel(client, tenant, receiver, name="Works")
    bad = await add_channel(client, tenant, receiver, name="Broken")
    receiver.statuses = [204, 503]
    await send_test(client, tenant, good["id"])
    await send_test(client, tenant, bad["id"])
    stamp = clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")

    listed = (await client.get(channels_url(tenant), headers=tenant.read)).json()["items"]
    by_name = {c["name"]: c["last_delivery"] for c in listed}
    works, broken = by_name["Works"], by_name["Broken"]
    assert works["notification_id"].startswith("ntf_")
    assert {k: works[k] for k in works if k != "notification_id"} == {
        "type": "test",
        "state": "delivered",
        "attempts": 1,
        "created_at": stamp,
        "delivered_at": stamp,
        "next_attempt_at": None,
        "last_status_code": 204,
        "last_error": None,
    }
    assert (broken["state"], broken["delivered_at"], broken["last_status_code"]) == ("failed", None, 503)
    assert broken["last_error"].startswith("HTTP 503")
    # The URL's query is a credential: it is scrubbed from the error as from everything else.
    assert "s3cr3t-query" not in str(listed)
    one = (await client.get(channels_url(tenant) + bad["id"] + "/", headers=tenant.read)).json()
    assert one["last_delivery"] == broken
    # Every answer that shows the channel says the same, the heartbeat setting's included.
    set_ = await client.post(
        channels_url(tenant) + good["id"] + "/heartbeat/", json={"interval_seconds": 60}, headers=tenant.write
    )
    assert set_.json()["last_delivery"] == works


async def test_channel_status__heartbeats__each_schedulers_last_one_on_the_channel(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    channel = await add_channel(client, tenant, receiver)
    await client.post(
        channels_url(tenant) + channel["id"] + "/heartbeat/",
        json={"interval_seconds": 60},
        headers=tenant.write,
    )
    receiver.statuses = [204, 503]
    await alert_pass(db, alert_settings, clock.now, scheduler="host-a:1")
    await alert_pass(db, alert_settings, clock.now, scheduler="host-b:2")
    one = (await client.get(channels_url(tenant) + channel["id"] + "/", headers=tenant.read)).json()
    listed = (await client.get(channels_url(tenant), headers=tenant.read)).json()["items"]
    assert listed[0]["heartbeats"] == one["heartbeats"]
    a, b = one["heartbeats"]
    assert (a["scheduler_id"], a["last_status_code"], a["last_error"]) == ("host-a:1", 204, None)
    assert (b["scheduler_id"], b["last_status_code"], b["last_delivered_at"]) == ("host-b:2", 503, None)
    assert b["last_error"].startswith("HTTP 503")
    # A heartbeat is no notification: the channel has still delivered nothing.
    assert one["last_delivery"] is None


async def test_channel_status__many_channels__same_number_of_statements_as_one(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, db: Database
) -> None:
    first = await add_channel(client, tenant, receiver, name="c0")
    await send_test(client, tenant, first["id"])
    await client.get(channels_url(tenant), headers=tenant.read)  # the token is looked up once, then kept
    with statements(db) as few:
        assert (await client.get(channels_url(tenant), headers=tenant.read)).status_code == 200
    for i in range(1, 6):
        channel = await add_channel(client, tenant, receiver, name=f"c{i}")
        await send_test(client, tenant, channel["id"])
    with statements(db) as many:
        listed = (await client.get(channels_url(tenant), headers=tenant.read)).json()["items"]
    assert all(c["last_delivery"]["state"] == "delivered" for c in listed)
    assert len(many) == len(few)


async def test_channel_status__another_organisations_sends__never_shown(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, receiver: Receiver
) -> None:
    mine = await add_channel(client, tenant, receiver, name="Mine")
    theirs = await add_channel(client, other_tenant, receiver, name="Theirs")
    receiver.statuses = [503]
    await send_test(client, other_tenant, theirs["id"])
    listed = (await client.get(channels_url(tenant), headers=tenant.read)).json()["items"]
    assert [(c["id"], c["last_delivery"]) for c in listed] == [(mine["id"], None)]
    stranger = await client.get(channels_url(tenant) + theirs["id"] + "/", headers=tenant.read)
    assert stranger.status_code == 404
