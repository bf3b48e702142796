"""The recurring work, as plain functions of a session and ``now`` (SPEC §2).

Replicas coordinate through the database: a connection is claimed by a conditional
UPDATE of its ``next_run_epoch``, which PostgreSQL re-checks under the row lock and SQLite
serialises, so two schedulers never seed two runs for one slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, update
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

    def payload(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "connection_id": self.connection_id,
            "organisation_id": self.organisation_id,
        }


def epoch(value: datetime) -> int:
    return int(value.timestamp())


async def seed_due_runs(session: AsyncSession, now: datetime) -> list[SeededRun]:
    """Claim every due connection and write its pending run, before anything is invoked."""
    # next_run_epoch is whole seconds: the start is rounded up (a run started at 10.9 s must not
    # be due again at interval + 10 s), and a whole second has passed once floor(now) reaches it.
    now_epoch = epoch(now)
    c = WarehouseConnection.__table__.c
    claim = (
        update(WarehouseConnection)
        .where(
            c.state.in_(SCHEDULED_STATES),
            # OpenLineage-fed connections run when their orchestrator says (SPEC §9).
            c.type != "openlineage",
            or_(c.next_run_epoch.is_(None), c.next_run_epoch <= now_epoch),
        )
        .values(next_run_epoch=math.ceil(now.timestamp()) + c.schedule_interval_seconds)
        .returning(c.id, c.organisation_id)
        .execution_options(synchronize_session=False)
    )
    claimed = (await session.execute(claim)).all()
    seeded = [SeededRun(ids.run_id(now), connection_id, org_id) for connection_id, org_id in claimed]
    if seeded:
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
