"""Real ``run_forever`` schedulers divide the evaluation: on PostgreSQL two replicas each hold
half of the partitions, and one that stops gives its half to the other; on SQLite (a
single-scheduler layout) the one scheduler evaluates everything and claims nothing."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import select

from pipepulse.alerts import shares
from pipepulse.config import Settings
from pipepulse.db.models import EvaluationShare
from pipepulse.db.session import Database
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher
from tests.conftest import FrozenClock


async def owners(db: Database) -> Counter[str | None]:
    async with db.session() as session:
        return Counter(await session.scalars(select(EvaluationShare.owner)))


async def becomes(db: Database, expected: Counter[str | None]) -> None:
    found: Counter[str | None] = Counter()
    for _ in range(300):
        found = await owners(db)
        if found == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {expected}, saw {found}")


async def test_run_forever__two_replicas__each_evaluates_half__a_stopped_one_hands_its_half_over(
    db: Database, settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = iter(["r1", "r2"])
    monkeypatch.setattr(runner, "scheduler_id", lambda: next(names))
    fast = settings.model_copy(update={"scheduler_alert_seconds": 0.05})
    stops = [asyncio.Event(), asyncio.Event()]
    metrics = [runner.SchedulerMetrics(), runner.SchedulerMetrics()]
    first = asyncio.create_task(
        runner.run_forever(db, fast, NoDispatcher(), clock, stops[0], metrics=metrics[0])
    )
    await asyncio.sleep(0.5)
    second = asyncio.create_task(
        runner.run_forever(db, fast, NoDispatcher(), clock, stops[1], metrics=metrics[1])
    )

    def held() -> list[float | None]:
        return [m.registry.get_sample_value("pipepulse_scheduler_evaluation_partitions") for m in metrics]

    async def shown(expected: list[float | None]) -> None:
        for _ in range(300):  # the gauge is set once a pass has finished
            if held() == expected:
                return
            await asyncio.sleep(0.05)
        assert held() == expected

    half = shares.PARTITIONS // 2
    try:
        if db.dialect != "postgresql":
            await shown([shares.PARTITIONS, shares.PARTITIONS])
            assert await owners(db) == Counter()  # SQLite: no shares, every connection evaluated
            return
        await becomes(db, Counter({"r1": half, "r2": half}))
        await shown([half, half])
        stops[1].set()
        await second
        await becomes(db, Counter({"r1": shares.PARTITIONS}))
        await shown([shares.PARTITIONS, half])  # the stopped one's gauge keeps its last value
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(first, second)
    assert await owners(db) == Counter({None: shares.PARTITIONS})  # given up on the way out
