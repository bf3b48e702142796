"""Slots on a fixed grid per connection, replicas sharing the seeding, and the loops keeping
time (SPEC §2.1, §6): lateness never accumulates, a missed slot is skipped, never run twice."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler import jobs, runner
from pipepulse.scheduler import repository as scheduler_repository
from pipepulse.scheduler.dispatchers import NoDispatcher
from tests.conftest import FrozenClock, Tenant
from tests.scheduler.test_scheduler import make_connection, runs_of


async def started(client: httpx.AsyncClient, tenant: Tenant, connection_id: str) -> list[str]:
    return sorted(r["started_at"] for r in await runs_of(client, tenant, connection_id))


async def seed(db: Database, now: FrozenClock) -> list[jobs.SeededRun]:
    async with db.session(write=True) as session:
        return await jobs.seed_due_runs(session, now.now)


async def test_grid__run_seeded_late__next_slot_unmoved_no_drift(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    connection_id = await make_connection(client, tenant, "connected", interval=60)
    anchor = clock.now
    assert (await runner.tick(db, settings, NoDispatcher(), clock.now)).seeded == 1
    for slot in range(1, 6):
        # Each run is seeded 7 s late; the next slot still comes a whole interval after the last.
        clock.now = anchor + timedelta(seconds=60 * slot - 1)
        assert (await runner.tick(db, settings, NoDispatcher(), clock.now)).seeded == 0
        clock.now = anchor + timedelta(seconds=60 * slot + 7)
        [run] = await seed(db, clock)
        assert run.slot_epoch == int(anchor.timestamp()) + 60 * slot
        assert run.lag_seconds(clock.now) == 7.0
        assert run.missed_slots == 0
    assert len(await started(client, tenant, connection_id)) == 6


async def test_grid__slots_missed_entirely__counted_skipped_never_run_twice(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, clock: FrozenClock
) -> None:
    connection_id = await make_connection(client, tenant, "connected", interval=60)
    anchor = clock.now
    assert len(await seed(db, clock)) == 1
    # The scheduler was away for 3 minutes 20 s: the slots at 60 and 120 s passed without a run.
    clock.now = anchor + timedelta(seconds=200)
    [run] = await seed(db, clock)
    assert run.missed_slots == 2
    assert run.slot_epoch == int(anchor.timestamp()) + 180
    assert run.lag_seconds(clock.now) == 20.0
    assert await seed(db, clock) == []
    clock.now = anchor + timedelta(seconds=239)
    assert await seed(db, clock) == []
    clock.now = anchor + timedelta(seconds=240)
    [on_time] = await seed(db, clock)
    assert (on_time.missed_slots, on_time.lag_seconds(clock.now)) == (0, 0.0)
    assert len(await started(client, tenant, connection_id)) == 3


async def test_grid__two_replicas_in_batches__disjoint_shares_one_run_per_slot(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jobs, "SEED_BATCH", 4)
    ids = [await make_connection(client, tenant, "connected", interval=60) for _ in range(30)]
    anchor = clock.now
    shares: list[set[str]] = []
    for slot in range(3):
        clock.now = anchor + timedelta(seconds=60 * slot + 2)
        passes = await asyncio.gather(
            *[runner.seed_pass(db, NoDispatcher(), clock.now, asyncio.Semaphore(8)) for _ in range(2)]
        )
        a, b = ({r.connection_id for r in seeded} for seeded, _ in passes)
        assert not a & b
        assert a | b == set(ids)
        shares += [a, b]
    for connection_id in ids:
        assert len(await started(client, tenant, connection_id)) == 3


async def test_run_forever__frozen_clock_far_from_wall__seeds_each_slot_and_reports_lag(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    connection_id = await make_connection(client, tenant, "connected", interval=60)
    anchor = clock.now
    metrics = runner.SchedulerMetrics()
    stop = asyncio.Event()
    loops = asyncio.create_task(
        runner.run_forever(db, settings, NoDispatcher(), clock, stop, metrics=metrics)
    )

    async def runs_become(count: int) -> list[str]:
        for _ in range(100):
            seen = await started(client, tenant, connection_id)
            if len(seen) >= count:
                return seen
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} run(s), saw {seen}")

    try:
        assert len(await runs_become(1)) == 1
        clock.now = anchor + timedelta(seconds=63)
        assert len(await runs_become(2)) == 2
        clock.now = anchor + timedelta(seconds=120)
        assert len(await runs_become(3)) == 3
    finally:
        stop.set()
        await loops
    value = metrics.registry.get_sample_value
    assert value("pipepulse_scheduler_seeding_lag_seconds_count") == 3
    assert value("pipepulse_scheduler_seeding_lag_seconds_bucket", {"le": "5.0"}) == 3
    assert value("pipepulse_scheduler_seeding_lag_seconds_bucket", {"le": "2.0"}) == 2
    assert value("pipepulse_scheduler_due_backlog") == 0
    assert (value("pipepulse_scheduler_loop_seconds_count", {"loop": "seeding"}) or 0) >= 3
    assert (value("pipepulse_scheduler_loop_seconds_count", {"loop": "alerts"}) or 0) >= 1
    assert len(await started(client, tenant, connection_id)) == 3


def test_observe__slots_due_before_the_scheduler_started__catch_up_not_lag() -> None:
    """`pipepulse demo` starts its scheduler minutes after the backfill's last slot: the first
    seeds catch up and are neither lag nor a warning; later slots are measured as ever."""
    metrics = runner.SchedulerMetrics()
    started_at = datetime(2031, 4, 21, 12, 0, tzinfo=UTC)
    before = jobs.SeededRun("run_a", "wc_a", 1, int(started_at.timestamp()) - 121)
    after = jobs.SeededRun("run_b", "wc_b", 1, int(started_at.timestamp()) + 53)
    now = started_at + timedelta(seconds=60)
    assert runner._observe(metrics, [before], now, started_at) == 0.0
    assert metrics.registry.get_sample_value("pipepulse_scheduler_seeding_lag_seconds_count") == 0
    assert runner._observe(metrics, [before, after], now, started_at) == 7.0
    assert metrics.registry.get_sample_value("pipepulse_scheduler_seeding_lag_seconds_count") == 1
    assert metrics.registry.get_sample_value("pipepulse_scheduler_seeded_runs_total") == 3


@pytest.mark.only_on("postgres")
async def test_claim__held_by_a_seeding_replica__a_report_of_that_connection_still_lands(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, clock: FrozenClock, service_key: dict[str, str]
) -> None:
    # A seeding transaction holds its claimed connections while it writes their runs; a loader
    # reporting the previous run of one of them at that moment writes rows that reference the
    # connection (a new hour's rollups, its stored answer). Those references must not wait for
    # the claim: when they did, the two transactions could wait on each other (a deadlock seen
    # with 10,000 connections, two replicas and reports arriving all the time).
    connection_id = await make_connection(client, tenant, "connected", interval=60)
    [first] = await seed(db, clock)
    clock.now += timedelta(seconds=61)
    async with db.session(write=True) as holding:
        # The claim of a seeding pass, before it writes the new run.
        now_epoch = jobs.epoch(clock.now)
        picked = await scheduler_repository.pick_due(holding, now_epoch, None)
        assert await scheduler_repository.claim(holding, list(picked), clock.now, now_epoch) == [
            connection_id
        ]
        report = client.patch(
            tenant.connection_url(connection_id) + f"metrics/{first.run_id}/",
            json={"completed_at": clock.now.isoformat(), "events_delivered": 5},
            headers=service_key,
        )
        response = await asyncio.wait_for(report, timeout=10)
    assert response.status_code == 204
    [run] = await runs_of(client, tenant, connection_id)
    assert (run["id"], run["events_delivered"]) == (first.run_id, 5)


@pytest.mark.only_on("postgres")
async def test_seed__connection_held_by_another_replica__skipped_then_seeded_once_for_its_slot(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, clock: FrozenClock
) -> None:
    # A batch is picked, claimed and written in one statement: a connection another replica
    # is claiming is skipped (not waited for), and seeded once that claim has let it go.
    held_id, free_id = sorted(
        [await make_connection(client, tenant, "connected", interval=60) for _ in range(2)]
    )
    anchor = math.ceil(clock.now.timestamp())
    await seed(db, clock)
    clock.now += timedelta(seconds=61)
    async with db.session(write=True) as holding:
        # Another replica's claim, earliest slot then id first: it takes held_id.
        assert list(await scheduler_repository.pick_due(holding, jobs.epoch(clock.now), 1)) == [held_id]
        [other] = await asyncio.wait_for(seed(db, clock), timeout=10)
        assert (other.connection_id, other.slot_epoch, other.missed_slots) == (free_id, anchor + 60, 0)
    [then] = await seed(db, clock)
    assert (then.connection_id, then.slot_epoch, then.missed_slots) == (held_id, anchor + 60, 0)
    assert await seed(db, clock) == []
    for connection_id in (held_id, free_id):
        assert len(await started(client, tenant, connection_id)) == 2
