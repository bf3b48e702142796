"""SPEC §7.4 fairness and bounds: one organisation flooding its own dead channels never delays
another's notification; per-organisation bounds; identical rules; attempts count sends."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert

from pipepulse import ids
from pipepulse.config import Settings
from pipepulse.db.models import AlertRule
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.world import add_channel, add_rule, channels_url, log_url, push, rules_url
from tests.conftest import FrozenClock, Tenant

T0 = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
# Nothing listens here: every attempt is refused at once.
DEAD = "http://127.0.0.1:9/hook"
OPTIONAL = ["status:degraded", "status:idle", "recovered", "late", "fresh", "volume_anomaly"]


async def connections(client: httpx.AsyncClient, tenant: Tenant, n: int) -> list[str]:
    made = []
    for i in range(n):
        body = {"name": f"Job {i}", "type": "postgres", "state": "connected"}
        response = await client.post(tenant.connections_url(), json=body, headers=tenant.write)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    return made


# The group pass writes each of the 30,000 alerts with its own statements: minutes on a busy machine.
@pytest.mark.timeout(600)
async def test_fairness__flood_to_dead_channels__other_org_delivered_in_next_pass(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
    service_key: dict[str, str],
) -> None:
    clock.now = T0 - timedelta(hours=2)
    flooding = await connections(client, tenant, 30)
    [quiet] = await connections(client, other_tenant, 1)
    for cid in flooding:
        await push(client, tenant, service_key, cid, T0 - timedelta(hours=1), None, clock)
    await push(client, other_tenant, service_key, quiet, T0 - timedelta(hours=1), None, clock)

    # 1,000 distinct rules over 20 dead channels (the bounds allow 20 channels; the rules are
    # written past PIPEPULSE_ALERTS_MAX_RULES_PER_ORG, as an installation that raised it).
    dead = []
    for i in range(20):
        response = await client.post(
            channels_url(tenant),
            json={"name": f"Dead {i}", "kind": "webhook", "url": DEAD},
            headers=tenant.write,
        )
        assert response.status_code == 201, response.text
        dead.append(response.json()["id"])
    subsets = [
        ["status:error", *extra]
        for size in range(len(OPTIONAL) + 1)
        for extra in itertools.combinations(OPTIONAL, size)
    ][:50]
    async with db.session(write=True) as session:
        await session.execute(
            insert(AlertRule),
            [
                {
                    "id": ids.alert_rule_id(),
                    "organisation_id": tenant.id,
                    "channel_id": channel,
                    "events": events,
                    "connection_ids": None,
                    "min_duration_seconds": 0,
                    # One group a rule: 1,000 group notifications, five passes' claims.
                    "group_by": [],
                    "created_at": clock.now,
                }
                for channel in dead
                for events in subsets
            ],
        )
    channel = await add_channel(client, other_tenant, receiver)
    await add_rule(client, other_tenant, channel["id"], ["status:error"])
    clock.now = T0
    await alert_pass(db, alert_settings, T0)

    # The flood: 30 connections by 1,000 rules (30,000 alerts in 1,000 groups), queued one tick
    # before the other organisation's.
    for k in range(3):
        for cid in flooding:
            await push(
                client, tenant, service_key, cid, T0 + timedelta(seconds=10 + k), "connection refused", clock
            )
    clock.now = T0 + timedelta(minutes=1)
    await alert_pass(db, alert_settings, clock.now)
    flood_log = (await client.get(log_url(tenant), params={"size": 1}, headers=tenant.read)).json()
    assert flood_log["total"] == 1_000

    for k in range(3):
        await push(
            client,
            other_tenant,
            service_key,
            quiet,
            T0 + timedelta(minutes=1, seconds=10 + k),
            "disk full",
            clock,
        )
    clock.now = T0 + timedelta(minutes=2)
    await alert_pass(db, alert_settings, clock.now)  # the next delivery pass
    delivered = receiver.received("alert_group")
    assert [a["connection"]["id"] for d in delivered for a in d.json["alerts"]] == [quiet]

    # attempts counts sends made: nothing of the flood was counted without being sent.
    items = (await client.get(log_url(tenant), params={"size": 200}, headers=tenant.read)).json()["items"]
    assert all(item["attempts"] <= 2 for item in items)
    assert all(item["attempts"] == 0 or item["last_error"] for item in items)


async def test_bounds__channels_over_the_bound__422_naming_the_setting(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    for i in range(20):
        await add_channel(client, tenant, receiver, name=f"c{i}")
    response = await client.post(
        channels_url(tenant),
        json={"name": "one more", "kind": "webhook", "url": receiver.url},
        headers=tenant.write,
    )
    assert response.status_code == 422
    assert "PIPEPULSE_ALERTS_MAX_CHANNELS_PER_ORG" in response.text


async def test_bounds__rules_over_the_bound__422_and_identical__409(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, db: Database, clock: FrozenClock
) -> None:
    channel = await add_channel(client, tenant, receiver)
    first = await add_rule(
        client, tenant, channel["id"], ["status:error", "recovered"], group_by=["fingerprint"]
    )
    same = await client.post(
        rules_url(tenant),
        json={
            "channel_id": channel["id"],
            "events": ["recovered", "status:error"],
            "group_by": ["fingerprint"],
            "group_wait_seconds": 0,
        },
        headers=tenant.write,
    )
    assert same.status_code == 409
    assert first["id"] in same.text
    other = await add_rule(
        client, tenant, channel["id"], ["status:error", "recovered"], group_by=["connection"]
    )
    assert other["id"] != first["id"]
    async with db.session(write=True) as session:
        await session.execute(
            insert(AlertRule),
            [
                {
                    "id": ids.alert_rule_id(),
                    "organisation_id": tenant.id,
                    "channel_id": channel["id"],
                    "events": ["late"],
                    "connection_ids": None,
                    "min_duration_seconds": i,
                    "created_at": clock.now,
                }
                for i in range(98)
            ],
        )
    over = await client.post(
        rules_url(tenant), json={"channel_id": channel["id"], "events": ["fresh"]}, headers=tenant.write
    )
    assert over.status_code == 422
    assert "PIPEPULSE_ALERTS_MAX_RULES_PER_ORG" in over.text
