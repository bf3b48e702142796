"""The group pass looks only at groups that are due or were woken (SPEC §7.4 at fleet scale).

In an outage a fleet holds hundreds of open groups; the pass used to read every one of them and
all their alerts every 2 s in every replica. Now a group is read when its ``next_notify_at``
comes (its timing, an alert held back by ``min_duration_seconds`` joining, a silence or window
boundary) or when a change wakes it (an alert opening or ending in it, a silence or window
made or ended); these tests hold the pass to telling exactly what it told before, at the same
instants, while reading only those groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import event, func, select

from pipepulse.alerts import groups as alert_groups
from pipepulse.config import Settings
from pipepulse.db.models import AlertGroup, AlertGroupWake
from pipepulse.db.session import Database
from tests.alerts.receiver import Receiver
from tests.alerts.world import add_channel, add_rule, fail, groups_url, make, push, runs, seed, tick
from tests.conftest import FrozenClock, Tenant, iso

T0 = datetime(2026, 4, 20, 12, tzinfo=UTC)


@contextmanager
def groups_read() -> Iterator[list[str]]:
    """The ids of the alert groups loaded as objects while the block runs (the group pass
    loads each group it looks at)."""
    seen: list[str] = []

    def loaded(target: AlertGroup, _context: Any) -> None:
        seen.append(target.id)

    event.listen(AlertGroup, "load", loaded)
    try:
        yield seen
    finally:
        event.remove(AlertGroup, "load", loaded)


async def wakes_left(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(AlertGroupWake)) or 0)


async def test_group_pass__quiet_groups__read_only_when_woken_or_due(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
    service_key: dict[str, str],
) -> None:
    """Twelve connections in error, each its own group, told once. Passes in between read no
    group; one connection recovering wakes its group alone, which tells the recovery; the
    repeat an hour on reads the eleven still firing."""
    clock.now = T0 - timedelta(hours=3)
    connections = await seed(client, tenant, 12)
    channel = await add_channel(client, tenant, receiver)
    await add_rule(
        client,
        tenant,
        channel["id"],
        ["status:error", "recovered"],
        group_by=["connection"],
        group_interval_seconds=300,
        repeat_interval_seconds=3600,
    )
    for back in (30, 20, 10):
        clock.now = T0 - timedelta(seconds=back)
        await runs(client, tenant, service_key, connections, clock.now, lambda _: "connection refused")
    with groups_read() as first:
        await tick(db, alert_settings, clock, T0)
    assert len(set(first)) == 12
    assert len(receiver.received("alert_group")) == 12
    assert await wakes_left(db) == 0

    with groups_read() as quiet:
        for minutes in (1, 2, 5, 30):
            await tick(db, alert_settings, clock, T0 + timedelta(minutes=minutes))
    assert quiet == []

    recovered = connections[0]
    clock.now = T0 + timedelta(minutes=31)
    await runs(client, tenant, service_key, [recovered], clock.now, None)
    with groups_read() as woken:
        await tick(db, alert_settings, clock, T0 + timedelta(minutes=32))
    assert len(set(woken)) == 1
    resolved = [d.json for d in receiver.received("alert_group") if d.json["status"] == "resolved"]
    assert [n["alerts"][0]["connection"]["id"] for n in resolved] == [recovered]

    with groups_read() as until_due:
        await tick(db, alert_settings, clock, T0 + timedelta(minutes=59))
    assert until_due == []
    with groups_read() as repeat:
        await tick(db, alert_settings, clock, T0 + timedelta(minutes=61))
    assert len(set(repeat)) == 11
    repeats = [d.json for d in receiver.received("alert_group") if d.json["status"] == "firing"]
    assert len(repeats) == 12 + 11
    assert await wakes_left(db) == 0


async def test_group_pass__silence_ends__told_at_its_end_not_before(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
    service_key: dict[str, str],
) -> None:
    """A silenced alert is told the first pass after its silence ends, though nothing woke its
    group then: the pass that saw it silenced stored the silence's end as the group's due time."""
    clock.now = T0 - timedelta(hours=2)
    cid = await make(client, tenant)
    await push(client, tenant, service_key, cid, T0 - timedelta(hours=1), None, clock)
    channel = await add_channel(client, tenant, receiver)
    await add_rule(client, tenant, channel["id"], ["status:error"], group_by=["connection"])
    await tick(db, alert_settings, clock, T0)
    ends = T0 + timedelta(minutes=17, seconds=23)
    silence = await client.post(
        f"/api/v1/organisations/{tenant.id}/silences/",
        json={"matchers": {"connection": cid}, "starts_at": iso(T0), "ends_at": iso(ends)},
        headers=tenant.write,
    )
    assert silence.status_code == 201, silence.text
    await fail(client, tenant, service_key, cid, T0 + timedelta(minutes=1), clock)
    with groups_read() as read:
        await tick(db, alert_settings, clock, T0 + timedelta(minutes=2))
        await tick(db, alert_settings, clock, ends - timedelta(seconds=1))
    assert len(read) == 1  # the pass after the alert opened; none until the silence ends
    assert receiver.received("alert_group") == []
    await tick(db, alert_settings, clock, ends)
    [told] = receiver.received("alert_group")
    assert told.json["status"] == "firing"
    assert told.json["alerts"][0]["silenced_by"] == []


async def test_group_pass__silence_made_for_a_told_group__wakes_it(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
    service_key: dict[str, str],
) -> None:
    """A silence made over a group already told wakes it: one of its two alerts silenced, the
    group says so (the other alert alone) after group_interval instead of at its repeat."""
    clock.now = T0 - timedelta(hours=2)
    first, second = await seed(client, tenant, 2)
    channel = await add_channel(client, tenant, receiver)
    await add_rule(client, tenant, channel["id"], ["status:error"], group_by=[], group_interval_seconds=60)
    for back in (30, 20, 10):
        clock.now = T0 - timedelta(seconds=back)
        await runs(client, tenant, service_key, [first, second], clock.now, lambda _: "refused")
    await tick(db, alert_settings, clock, T0)
    [told] = receiver.received("alert_group")
    assert told.json["counts"] == {"firing": 2, "resolved": 0}
    clock.now = T0 + timedelta(minutes=5)
    silence = await client.post(
        f"/api/v1/organisations/{tenant.id}/silences/",
        json={
            "matchers": {"connection": first},
            "starts_at": iso(clock.now),
            "ends_at": iso(T0 + timedelta(days=1)),
        },
        headers=tenant.write,
    )
    assert silence.status_code == 201, silence.text
    await tick(db, alert_settings, clock, T0 + timedelta(minutes=6))
    notes = receiver.received("alert_group")
    assert len(notes) == 2
    assert [a["connection"]["id"] for a in notes[1].json["alerts"]] == [second]


async def test_group_pass__connection_deleted__sweep_closes_its_group_silently(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
    service_key: dict[str, str],
) -> None:
    """A deleted connection takes its alerts with it; its group, told firing, has nothing left
    to say. The periodic sweep looks at every open group and closes it without a word (it used
    to stay open for ever)."""
    clock.now = T0 - timedelta(hours=2)
    cid = await make(client, tenant)
    channel = await add_channel(client, tenant, receiver)
    await add_rule(client, tenant, channel["id"], ["status:error", "recovered"], group_by=["connection"])
    await fail(client, tenant, service_key, cid, T0 - timedelta(minutes=1), clock)
    await tick(db, alert_settings, clock, T0)
    assert len(receiver.received("alert_group")) == 1
    deleted = await client.delete(tenant.connection_url(cid), headers=tenant.write)
    assert deleted.status_code == 204, deleted.text

    clock.now = T0 + timedelta(minutes=1)
    await alert_groups.notify_due(db, clock.now, public_url=alert_settings.public_url)
    [group] = (await client.get(groups_url(tenant), headers=tenant.read)).json()["items"]
    assert group["state"] == "open"  # nothing woke it
    sweep = alert_groups.Sweep()
    assert sweep.due(clock.now)
    await alert_groups.notify_due(db, clock.now, public_url=alert_settings.public_url, every_group=True)
    [group] = (await client.get(groups_url(tenant), headers=tenant.read)).json()["items"]
    assert group["state"] == "closed"
    assert len(receiver.received("alert_group")) == 1
    assert not sweep.due(clock.now + timedelta(minutes=4))
    assert sweep.due(clock.now + timedelta(minutes=5))
