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

from sqlalchemy import event, func, select

from pipepulse.alerts import groups as alert_groups
from pipepulse.db.models import AlertGroup, AlertGroupWake
from pipepulse.db.session import Database
from tests.alerts.world import AlertWorld
from tests.conftest import iso

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
    world: AlertWorld,
) -> None:
    """Twelve connections in error, each its own group, told once. Passes in between read no
    group; one connection recovering wakes its group alone, which tells the recovery; the
    repeat an hour on reads the eleven still firing."""
    world.clock.now = T0 - timedelta(hours=3)
    connections = await world.connections(12)
    channel = await world.channel()
    await world.rule(
        channel["id"],
        ["status:error", "recovered"],
        group_by=["connection"],
        group_interval_seconds=300,
        repeat_interval_seconds=3600,
    )
    for back in (30, 20, 10):
        world.clock.now = T0 - timedelta(seconds=back)
        await world.runs(connections, world.clock.now, lambda _: "connection refused")
    with groups_read() as first:
        await world.tick(T0)
    assert len(set(first)) == 12
    assert len(world.receiver.received("alert_group")) == 12
    assert await wakes_left(world.db) == 0

    with groups_read() as quiet:
        for minutes in (1, 2, 5, 30):
            await world.tick(T0 + timedelta(minutes=minutes))
    assert quiet == []

    recovered = connections[0]
    world.clock.now = T0 + timedelta(minutes=31)
    await world.runs([recovered], world.clock.now, None)
    with groups_read() as woken:
        await world.tick(T0 + timedelta(minutes=32))
    assert len(set(woken)) == 1
    resolved = [d.json for d in world.receiver.received("alert_group") if d.json["status"] == "resolved"]
    assert [n["alerts"][0]["connection"]["id"] for n in resolved] == [recovered]

    with groups_read() as until_due:
        await world.tick(T0 + timedelta(minutes=59))
    assert until_due == []
    with groups_read() as repeat:
        await world.tick(T0 + timedelta(minutes=61))
    assert len(set(repeat)) == 11
    repeats = [d.json for d in world.receiver.received("alert_group") if d.json["status"] == "firing"]
    assert len(repeats) == 12 + 11
    assert await wakes_left(world.db) == 0


async def test_group_pass__silence_ends__told_at_its_end_not_before(
    world: AlertWorld,
) -> None:
    """A silenced alert is told the first pass after its silence ends, though nothing woke its
    group then: the pass that saw it silenced stored the silence's end as the group's due time."""
    world.clock.now = T0 - timedelta(hours=2)
    cid = await world.connection()
    await world.push(cid, T0 - timedelta(hours=1), None)
    channel = await world.channel()
    await world.rule(channel["id"], ["status:error"], group_by=["connection"])
    await world.tick(T0)
    ends = T0 + timedelta(minutes=17, seconds=23)
    silence = await world.client.post(
        f"/api/v1/organisations/{world.tenant.id}/silences/",
        json={"matchers": {"connection": cid}, "starts_at": iso(T0), "ends_at": iso(ends)},
        headers=world.tenant.write,
    )
    assert silence.status_code == 201, silence.text
    await world.fail(cid, T0 + timedelta(minutes=1))
    with groups_read() as read:
        await world.tick(T0 + timedelta(minutes=2))
        await world.tick(ends - timedelta(seconds=1))
    assert len(read) == 1  # the pass after the alert opened; none until the silence ends
    assert world.receiver.received("alert_group") == []
    await world.tick(ends)
    [told] = world.receiver.received("alert_group")
    assert told.json["status"] == "firing"
    assert told.json["alerts"][0]["silenced_by"] == []


async def test_group_pass__silence_made_for_a_told_group__wakes_it(
    world: AlertWorld,
) -> None:
    """A silence made over a group already told wakes it: one of its two alerts silenced, the
    group says so (the other alert alone) after group_interval instead of at its repeat."""
    world.clock.now = T0 - timedelta(hours=2)
    first, second = await world.connections(2)
    channel = await world.channel()
    await world.rule(channel["id"], ["status:error"], group_by=[], group_interval_seconds=60)
    for back in (30, 20, 10):
        world.clock.now = T0 - timedelta(seconds=back)
        await world.runs([first, second], world.clock.now, lambda _: "refused")
    await world.tick(T0)
    [told] = world.receiver.received("alert_group")
    assert told.json["counts"] == {"firing": 2, "resolved": 0}
    world.clock.now = T0 + timedelta(minutes=5)
    silence = await world.client.post(
        f"/api/v1/organisations/{world.tenant.id}/silences/",
        json={
            "matchers": {"connection": first},
            "starts_at": iso(world.clock.now),
            "ends_at": iso(T0 + timedelta(days=1)),
        },
        headers=world.tenant.write,
    )
    assert silence.status_code == 201, silence.text
    await world.tick(T0 + timedelta(minutes=6))
    notes = world.receiver.received("alert_group")
    assert len(notes) == 2
    assert [a["connection"]["id"] for a in notes[1].json["alerts"]] == [second]


async def test_group_pass__connection_deleted__sweep_closes_its_group_silently(
    world: AlertWorld,
) -> None:
    """A deleted connection takes its alerts with it; its group, told firing, has nothing left
    to say. The periodic sweep looks at every open group and closes it without a word (it used
    to stay open for ever)."""
    world.clock.now = T0 - timedelta(hours=2)
    cid = await world.connection()
    channel = await world.channel()
    await world.rule(channel["id"], ["status:error", "recovered"], group_by=["connection"])
    await world.fail(cid, T0 - timedelta(minutes=1))
    await world.tick(T0)
    assert len(world.receiver.received("alert_group")) == 1
    deleted = await world.client.delete(world.tenant.connection_url(cid), headers=world.tenant.write)
    assert deleted.status_code == 204, deleted.text

    world.clock.now = T0 + timedelta(minutes=1)
    await alert_groups.notify_due(world.db, world.clock.now, public_url=world.settings.public_url)
    [group] = await world.groups()
    assert group["state"] == "open"  # nothing woke it
    sweep = alert_groups.Sweep()
    assert sweep.due(world.clock.now)
    await alert_groups.notify_due(
        world.db, world.clock.now, public_url=world.settings.public_url, every_group=True
    )
    [group] = await world.groups()
    assert group["state"] == "closed"
    assert len(world.receiver.received("alert_group")) == 1
    assert not sweep.due(world.clock.now + timedelta(minutes=4))
    assert sweep.due(world.clock.now + timedelta(minutes=5))
