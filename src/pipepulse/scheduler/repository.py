"""SQL for the scheduler: claiming due connections, seeding their runs, the heartbeat."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import dialect
from pipepulse.db.models import Run, SchedulerHeartbeat, WarehouseConnection
from pipepulse.kit import run_filters

SCHEDULED_STATES = ("connected", "error")


def _due(now_epoch: int) -> ColumnElement[bool]:
    c = WarehouseConnection.__table__.c
    return and_(
        c.state.in_(SCHEDULED_STATES),
        # OpenLineage-fed connections run when their orchestrator says (SPEC §9).
        c.type != "openlineage",
        or_(c.next_run_epoch.is_(None), c.next_run_epoch <= now_epoch),
    )


def _next_slot(now: datetime, now_epoch: int) -> ColumnElement[int]:
    """The first slot of the connection's grid after ``now``; a first run anchors the grid at
    ``now`` rounded up to a whole second."""
    c = WarehouseConnection.__table__.c
    interval = c.schedule_interval_seconds
    passed = (now_epoch - c.next_run_epoch) // interval
    return case(
        (c.next_run_epoch.is_(None), math.ceil(now.timestamp()) + interval),
        else_=c.next_run_epoch + (passed + 1) * interval,
    )


async def pick_due(session: AsyncSession, now_epoch: int, limit: int | None) -> dict[str, Any]:
    """Due connections by id: (id, organisation_id, next_run_epoch, schedule_interval_seconds),
    earliest slot first; rows another replica is claiming right now are left to it."""
    c = WarehouseConnection.__table__.c
    pick = (
        select(c.id, c.organisation_id, c.next_run_epoch, c.schedule_interval_seconds)
        .where(_due(now_epoch))
        .order_by(c.next_run_epoch.asc().nulls_first(), c.id)
    )
    if limit is not None:
        pick = pick.limit(limit)
    pick = dialect.claiming(session, pick, of=WarehouseConnection.__table__)
    return {row[0]: row for row in (await session.execute(pick)).all()}


async def claim(
    session: AsyncSession, connection_ids: Sequence[str], now: datetime, now_epoch: int
) -> list[str]:
    """Move each still-due connection to its next slot; the ids this call claimed, sorted."""
    c = WarehouseConnection.__table__.c
    stmt = (
        update(WarehouseConnection)
        .where(c.id.in_(list(connection_ids)), _due(now_epoch))
        .values(next_run_epoch=_next_slot(now, now_epoch))
        .returning(c.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(await session.scalars(stmt))


async def insert_pending_runs(session: AsyncSession, runs: Sequence[dict[str, Any]]) -> None:
    await session.execute(insert(Run), list(runs))


async def outlook(session: AsyncSession, now_epoch: int) -> tuple[int, int | None]:
    """How many connections are due and unclaimed, and the earliest slot still to come."""
    c = WarehouseConnection.__table__.c
    backlog = await session.scalar(select(func.count()).where(_due(now_epoch)))
    upcoming = await session.scalar(
        select(func.min(c.next_run_epoch)).where(c.state.in_(SCHEDULED_STATES), c.next_run_epoch > now_epoch)
    )
    return int(backlog or 0), (int(upcoming) if upcoming is not None else None)


async def mark_orphaned(session: AsyncSession, orphaned_before: datetime, now: datetime) -> int:
    """Store the orphan transition of runs past their window still marked pending; how many."""
    result = await session.execute(
        update(Run)
        .where(run_filters.orphaned(orphaned_before), Run.outcome == "pending")
        .values(outcome="orphaned", orphaned_at=now)
        .returning(Run.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


async def beat(session: AsyncSession, scheduler_id: str, now: datetime, seeded: int) -> None:
    stmt = dialect.insert(dialect.name_of(session), SchedulerHeartbeat).values(
        scheduler_id=scheduler_id, last_tick_at=now, ticks=1, seeded_last_tick=seeded
    )
    t = SchedulerHeartbeat.__table__.c
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["scheduler_id"],
            set_={"last_tick_at": now, "ticks": t.ticks + 1, "seeded_last_tick": seeded},
        )
    )
