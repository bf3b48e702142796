"""Replicas divide the evaluation (SPEC §7.3) by partitions of the connections, each held by a
lease renewed every pass: together they evaluate every connection once per pass, a stopped
replica's share is taken over within the lease time, and a group gathering connections of
both shares is opened and told once (SPEC §7.4). On the real database, through the real API."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from pipepulse.alerts import changes, evaluation, selection, shares
from pipepulse.alerts import groups as alert_groups
from pipepulse.alerts.shares_store import EvaluationShares
from pipepulse.config import Settings
from pipepulse.db.models import Alert, AlertEvent, AlertGroup, EvaluationShare
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.test_evaluation import make_connection, push
from tests.alerts.world import add_channel, add_rule
from tests.conftest import FrozenClock, Tenant

T0 = datetime(2031, 4, 21, 12, 20, tzinfo=UTC)
LEASE = timedelta(seconds=30)
HALF = range(shares.PARTITIONS // 2)  # the partitions the first replica keeps once balanced


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0 - timedelta(hours=1))


@given(held=st.sets(st.integers(0, shares.PARTITIONS - 1)), replicas=st.integers(1, 40))
def test_plan__keeps_at_most_the_fair_share__releases_the_rest__asks_for_what_is_missing(
    held: set[int], replicas: int
) -> None:
    fair = shares.fair_share(replicas)
    assert fair * replicas >= shares.PARTITIONS  # together the live replicas cover every partition
    assert (fair - 1) * replicas < shares.PARTITIONS  # and none holds more than it needs to
    chosen = shares.plan(held, replicas)
    assert chosen.keep | chosen.release == held
    assert not chosen.keep & chosen.release
    assert len(chosen.keep) == min(fair, len(held))
    assert all(k < r for k in chosen.keep for r in chosen.release)  # sticky: the lowest stay
    assert chosen.wanted == fair - len(chosen.keep)


def test_partition_of__stable_across_processes__in_range() -> None:
    # CRC-32, not Python's salted hash(): every replica computes the same partition.
    assert shares.partition_of("con_0000000000000000000000") == 15
    found = Counter(shares.partition_of(f"con_{i:022d}") for i in range(3200))
    assert set(found) == set(range(shares.PARTITIONS))
    assert max(found.values()) < 2 * min(found.values())


async def balanced(
    a: EvaluationShares, b: EvaluationShares, at: datetime
) -> tuple[shares.Share, shares.Share]:
    """Two rounds of claims: the first replica takes every partition, the second joins and
    the first gives up half, which the second then takes."""
    for _ in range(2):
        first, second = await a.claim(at), await b.claim(at)
    return first, second


async def test_shares__two_replicas__divide_every_partition_once__sticky_while_renewed(db: Database) -> None:
    a, b = EvaluationShares(db, "a", LEASE), EvaluationShares(db, "b", LEASE)
    alone = await a.claim(T0)
    assert alone.held == alone.taken == frozenset(range(shares.PARTITIONS))
    first, second = await balanced(a, b, T0)
    assert first.held == frozenset(HALF)
    assert first.taken == frozenset()
    assert len(second.held) == shares.PARTITIONS // 2
    assert not first.held & second.held
    assert first.held | second.held == frozenset(range(shares.PARTITIONS))
    # Claimed at the same time, again and again: the same shares, nothing taken.
    for k in range(1, 4):
        again = await asyncio.gather(
            a.claim(T0 + k * timedelta(seconds=2)), b.claim(T0 + k * timedelta(seconds=2))
        )
        assert [s.held for s in again] == [first.held, second.held]
        assert [s.taken for s in again] == [frozenset(), frozenset()]


async def test_shares__a_stopped_replica__its_share_taken_over_within_the_lease_time(db: Database) -> None:
    a, b = EvaluationShares(db, "a", LEASE), EvaluationShares(db, "b", LEASE)
    _, second = await balanced(a, b, T0)  # b's last renewal: T0
    still = await a.claim(T0 + LEASE - timedelta(seconds=1))
    assert still.held == frozenset(HALF)  # b's lease holds until it runs out
    over = await a.claim(T0 + LEASE)
    assert over.held == frozenset(range(shares.PARTITIONS))
    assert over.taken == second.held
    async with db.session() as session:
        owners = set(await session.scalars(select(EvaluationShare.owner)))
    assert owners == {"a"}


async def test_shares__a_replica_stopping_cleanly__its_share_taken_at_the_next_pass(db: Database) -> None:
    a, b = EvaluationShares(db, "a", LEASE), EvaluationShares(db, "b", LEASE)
    await balanced(a, b, T0)
    await b.release()
    assert (await a.claim(T0 + timedelta(seconds=2))).held == frozenset(range(shares.PARTITIONS))


async def connections_in_both_halves(client: httpx.AsyncClient, tenant: Tenant, each: int) -> list[str]:
    """Connections until each replica's half of the partitions has ``each`` of them."""
    made: list[str] = []
    for i in range(60):
        cid = await make_connection(client, tenant, name=f"Shared {i:02d}", freshness_sla_seconds=7 * 86_400)
        made.append(cid)
        low = sum(1 for c in made if shares.partition_of(c) in HALF)
        if low >= each and len(made) - low >= each:
            return made
    raise AssertionError("60 connections all fell into one half of the partitions")


async def status_events(db: Database) -> Counter[tuple[str, str]]:
    async with db.session() as session:
        rows = await session.execute(
            select(AlertEvent.connection_id, AlertEvent.data).where(
                AlertEvent.type == "connection.status_changed"
            )
        )
        return Counter((cid, data["to"]) for cid, data in rows)


async def test_evaluation__two_replicas_each_a_share__every_connection_evaluated_once_per_pass(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    made = await connections_in_both_halves(client, tenant, 3)
    for cid in made:
        await push(client, tenant, service_key, clock, cid, T0 - timedelta(minutes=10), events=100)
    a, b = EvaluationShares(db, "a", LEASE), EvaluationShares(db, "b", LEASE)
    first, second = await balanced(a, b, T0)
    passes = await asyncio.gather(
        *(evaluation.evaluate(db, T0, alert_settings.thresholds, share=s) for s in (first, second))
    )
    mine = [sum(1 for c in made if s.holds(c)) for s in (first, second)]
    assert [p.connections for p in passes] == mine
    assert sum(mine) == len(made)
    assert min(mine) >= 3
    # Each connection's first evaluation recorded once, by the replica holding it.
    assert await status_events(db) == Counter({(cid, "active"): 1 for cid in made})


async def test_alert_pass__a_stopped_replica__its_connections_evaluated_by_the_other_after_the_lease(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    made = await connections_in_both_halves(client, tenant, 1)
    for cid in made:
        await push(client, tenant, service_key, clock, cid, T0 - timedelta(minutes=10), events=100)
    a, b = EvaluationShares(db, "a", LEASE), EvaluationShares(db, "b", LEASE)
    await balanced(a, b, T0 - timedelta(seconds=1))
    trackers = selection.Tracker(), selection.Tracker()
    clock.now = T0
    for tracker, replica in zip(trackers, (a, b), strict=True):
        await alert_pass(db, alert_settings, T0, scheduler=replica.owner, tracker=tracker, shares=replica)
    orphaned = next(c for c in made if shares.partition_of(c) not in HALF)  # b's
    for seconds in (5, 10, 15):
        await push(
            client, tenant, service_key, clock, orphaned, T0 + timedelta(seconds=seconds), error="boom"
        )
    # b stopped after its pass at T0 (its lease holds until T0 + 30 s); a passes every 2 s.
    for seconds in range(16, 30, 2):
        at = T0 + timedelta(seconds=seconds)
        await alert_pass(db, alert_settings, at, scheduler="a", tracker=trackers[0], shares=a)
        assert (await status_events(db))[(orphaned, "error")] == 0
    await alert_pass(db, alert_settings, T0 + LEASE, scheduler="a", tracker=trackers[0], shares=a)
    assert (await status_events(db))[(orphaned, "error")] == 1


async def test_groups__connections_of_both_shares_in_one_group__opened_once_told_once(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    made = await connections_in_both_halves(client, tenant, 3)
    for cid in made:
        await push(client, tenant, service_key, clock, cid, T0 - timedelta(minutes=10), events=100)
    channel = await add_channel(client, tenant, receiver)
    await add_rule(client, tenant, channel["id"], ["status:error"], group_by=[], group_wait_seconds=5)
    a, b = EvaluationShares(db, "a", LEASE), EvaluationShares(db, "b", LEASE)
    await balanced(a, b, T0 - timedelta(seconds=1))
    replicas = [(a, selection.Tracker()), (b, selection.Tracker())]

    async def both(at: datetime) -> None:
        clock.now = at
        await asyncio.gather(
            *(
                alert_pass(db, alert_settings, at, scheduler=r.owner, tracker=tracker, shares=r)
                for r, tracker in replicas
            )
        )

    await both(T0)
    for minute in (1, 2, 3):
        for cid in made:
            await push(client, tenant, service_key, clock, cid, T0 + timedelta(minutes=minute), error="boom")
    for seconds in (1, 3, 5, 7):
        await both(T0 + timedelta(minutes=3, seconds=seconds))
    assert await status_events(db) == Counter(
        {(cid, "active"): 1 for cid in made} | {(cid, "error"): 1 for cid in made}
    )
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(AlertGroup)) == 1
    told = receiver.received("alert_group")
    assert len(told) == 1
    assert told[0].json["counts"] == {"firing": len(made), "resolved": 0}


async def test_groups__two_replicas_open_the_same_group_at_once__one_group_both_alerts(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    alert_settings: Settings,
    receiver: Receiver,
) -> None:
    first_id, second_id = [await make_connection(client, tenant, name=f"Group {i}") for i in (1, 2)]
    channel = await add_channel(client, tenant, receiver)
    await add_rule(client, tenant, channel["id"], ["status:error"], group_by=[])

    def happened(cid: str, at: datetime) -> alert_groups.Happened:
        event = changes.status_event("active", "error", at, {"code": "failing", "text": "boom"})
        return alert_groups.Happened(tenant.id, cid, "Group", "postgres", event, None)

    async def other_replica() -> None:
        async with db.session(write=True) as session:
            await alert_groups.record(session, [happened(second_id, T0 + timedelta(seconds=1))], T0)

    async with db.session(write=True) as session:
        await alert_groups.record(session, [happened(first_id, T0)], T0)
        # The other replica's connection joins while this replica's new group is not committed:
        # it waits for it rather than opening a second group with the same key.
        other = asyncio.create_task(other_replica())
        await asyncio.sleep(1)
        assert not other.done()
    await other
    async with db.session() as session:
        groups = list(await session.scalars(select(AlertGroup.id)))
        members = list(await session.scalars(select(Alert.connection_id).where(Alert.group_id.in_(groups))))
    assert len(groups) == 1
    assert sorted(members) == sorted([first_id, second_id])
