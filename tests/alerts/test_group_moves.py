"""The group pass moves its groups compare-and-set (alerts/group_moves.py): a group another
replica moved since it was read keeps what that replica wrote, and the rest move — each with
exactly its own next look, what it told and whether it closed. PostgreSQL does it in one
statement for the whole pass, SQLite one group at a time; both must answer alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from pipepulse.alerts import group_moves
from pipepulse.alerts.group_moves import Move
from pipepulse.db.models import AlertGroup
from tests.alerts.world import AlertWorld

T0 = datetime(2031, 3, 4, 9, tzinfo=UTC)


async def _groups(world: AlertWorld) -> list[AlertGroup]:
    async with world.db.session() as session:
        return sorted((await session.scalars(select(AlertGroup))).all(), key=lambda g: g.id)


async def test_group_moves__one_moved_by_another_replica_meanwhile__it_is_left_alone_the_rest_move(
    world: AlertWorld,
) -> None:
    world.clock.now = T0 - timedelta(minutes=5)
    connections = await world.connections(3)
    channel = await world.channel()
    await world.rule(channel["id"], ["status:error", "recovered"], group_by=["connection"])
    for back in (30, 20, 10):
        world.clock.now = T0 - timedelta(seconds=back)
        await world.runs(connections, world.clock.now, lambda _: "connection refused")
    await world.tick(T0)
    a, b, c = await _groups(world)
    assert a.state == b.state == c.state == "open"
    assert a.notified is not None
    assert a.last_notified_at == T0
    async with world.db.session(write=True) as session:  # another replica, first
        await session.execute(update(AlertGroup).where(AlertGroup.id == a.id).values(version=a.version + 1))

    now, later = T0 + timedelta(minutes=1), T0 + timedelta(minutes=8)
    async with world.db.session(write=True) as session:
        moved = await group_moves.move(
            session,
            [
                Move(a.id, a.version, later, [["al_x", False]], close=False),
                Move(b.id, b.version, later, [["al_y", True]], close=False),
                Move(c.id, c.version, None, None, close=True),
            ],
            now,
        )
    assert moved == {b.id, c.id}

    a2, b2, c2 = await _groups(world)
    # a: what the other replica left, untouched by this pass.
    assert (a2.version, a2.next_notify_at, a2.notified, a2.last_notified_at, a2.state) == (
        a.version + 1,
        a.next_notify_at,
        a.notified,
        a.last_notified_at,
        "open",
    )
    # b: told — its next look, what it told and when.
    assert (b2.version, b2.next_notify_at, b2.notified, b2.last_notified_at, b2.state, b2.closed_at) == (
        b.version + 1,
        later,
        [["al_y", True]],
        now,
        "open",
        None,
    )
    # c: closed without telling — what it told before stays, no next look.
    assert (c2.version, c2.next_notify_at, c2.notified, c2.last_notified_at, c2.state, c2.closed_at) == (
        c.version + 1,
        None,
        c.notified,
        c.last_notified_at,
        "closed",
        now,
    )
