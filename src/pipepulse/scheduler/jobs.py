"""The recurring work, as plain functions of a session and ``now`` (SPEC §2).

Slots lie on a fixed grid per connection: ``next_run_epoch`` is the slot a connection is due
at, and a claim moves it to the next slot of the same grid (slot + k * interval), never to
``now + interval``, so a run seeded late keeps its slot and lateness never accumulates. A slot
that passed entirely without a run (the scheduler was down, or the connection paused) is
counted as missed and never run afterwards: only the latest slot that has come is seeded.

Replicas coordinate through the database. On PostgreSQL a pass claims due connections in
batches with ``SELECT … FOR UPDATE SKIP LOCKED``, so two replicas seed disjoint shares at
once; on SQLite a write transaction serialises the claims (one scheduler is the supported
layout there). Either way the conditional UPDATE re-checks the slot, so no connection gets two
runs for one slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import ids
from pipepulse.db import dialect
from pipepulse.db.models import Run, SchedulerHeartbeat, WarehouseConnection

SCHEDULED_STATES = ("connected", "error")


@dataclass(frozen=True)
class SeededRun:
    """What the loader is invoked with (SPEC §2.1)."""

    run_id: str
    connection_id: str
    organisation_id: int
    # The grid slot this run was seeded for (epoch seconds; None for a connection's first run)
    # and how many earlier slots passed without a run.
    slot_epoch: int | None = None
    missed_slots: int = 0

    def lag_seconds(self, seeded_at: datetime) -> float:
        """Seeding lag: the seeded ``started_at`` minus the slot it was due (SPEC §6)."""
        if self.slot_epoch is None:
            return 0.0
        return max(0.0, seeded_at.timestamp() - self.slot_epoch)

    def payload(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "connection_id": self.connection_id,
            "organisation_id": self.organisation_id,
        }


def epoch(value: datetime) -> int:
    return int(value.timestamp())


# Connections one claim takes: small enough that two replicas interleave their claims (each
# batch is its own short transaction), large enough that a pass over 10,000 is a few dozen.
SEED_BATCH = 500


def _due(now_epoch: int) -> ColumnElement[bool]:
    c = WarehouseConnection.__table__.c
    return and_(
        c.state.in_(SCHEDULED_STATES),
        # OpenLineage-fed connections run when their orchestrator says (SPEC §9).
        c.type != "openlineage",
        or_(c.next_run_epoch.is_(None), c.next_run_epoch <= now_epoch),
    )


def _next_slot(now: datetime) -> ColumnElement[int]:
    """The first slot of the connection's grid after ``now``; a first run anchors the grid at
    ``now`` rounded up to a whole second."""
    c = WarehouseConnection.__table__.c
    now_epoch = epoch(now)
    interval = c.schedule_interval_seconds
    passed = (now_epoch - c.next_run_epoch) // interval
    return case(
        (c.next_run_epoch.is_(None), math.ceil(now.timestamp()) + interval),
        else_=c.next_run_epoch + (passed + 1) * interval,
    )


async def seed_due_runs(session: AsyncSession, now: datetime, *, limit: int | None = None) -> list[SeededRun]:
    """Claim due connections (at most ``limit``) and write their pending runs, before anything
    is invoked. The caller commits; a pass repeats this until nothing is left to claim."""
    now_epoch = epoch(now)
    c = WarehouseConnection.__table__.c
    pick = (
        select(c.id, c.organisation_id, c.next_run_epoch, c.schedule_interval_seconds)
        .where(_due(now_epoch))
        .order_by(c.next_run_epoch.asc().nulls_first(), c.id)
    )
    if limit is not None:
        pick = pick.limit(limit)
    if dialect.name_of(session) == "postgresql":
        # Rows another replica is claiming right now are left to it.
        pick = pick.with_for_update(skip_locked=True, of=WarehouseConnection.__table__)
    picked = {row[0]: row for row in (await session.execute(pick)).all()}
    if not picked:
        return []
    claim = (
        update(WarehouseConnection)
        .where(c.id.in_(list(picked)), _due(now_epoch))
        .values(next_run_epoch=_next_slot(now))
        .returning(c.id)
        .execution_options(synchronize_session=False)
    )
    claimed = sorted(await session.scalars(claim))
    seeded = []
    for connection_id in claimed:
        _, org_id, due, interval = picked[connection_id]
        passed = 0 if due is None else (now_epoch - int(due)) // int(interval)
        slot = None if due is None else int(due) + passed * int(interval)
        seeded.append(SeededRun(ids.run_id(now), connection_id, org_id, slot, passed))
    await session.execute(
        insert(Run),
        [
            {
                "connection_id": s.connection_id,
                "id": s.run_id,
                "organisation_id": s.organisation_id,
                "started_at": now,
                "outcome": "pending",
                "events_delivered": 0,
                "batches_dlq": 0,
                "created_at": now,
            }
            for s in seeded
        ],
    )
    return seeded


async def due_outlook(session: AsyncSession, now: datetime) -> tuple[int, int | None]:
    """How many connections are due now and not yet claimed (the backlog), and the epoch of
    the earliest slot still to come (None when no connection is scheduled)."""
    now_epoch = epoch(now)
    c = WarehouseConnection.__table__.c
    backlog = await session.scalar(select(func.count()).where(_due(now_epoch)))
    upcoming = await session.scalar(
        select(func.min(c.next_run_epoch)).where(c.state.in_(SCHEDULED_STATES), c.next_run_epoch > now_epoch)
    )
    return int(backlog or 0), (int(upcoming) if upcoming is not None else None)


async def sweep_orphans(session: AsyncSession, now: datetime, orphan_window: timedelta) -> int:
    """Store the orphan transition of runs that never reported back (readers derive it anyway)."""
    result = await session.execute(
        update(Run)
        .where(Run.completed_at.is_(None), Run.outcome == "pending", Run.started_at <= now - orphan_window)
        .values(outcome="orphaned", orphaned_at=now)
        .returning(Run.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


async def beat(session: AsyncSession, scheduler_id: str, now: datetime, seeded: int) -> None:
    """Record that this scheduler finished a tick (``/readyz`` reads it)."""
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
