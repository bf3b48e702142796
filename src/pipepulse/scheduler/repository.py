"""SQL for the scheduler: claiming due connections, seeding their runs, the heartbeat."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, literal, or_, select, update
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


@dataclass(frozen=True)
class Seeded:
    """A connection claimed for its slot and the pending run written for it: ``due`` is the
    slot it was due at before the claim (None for a first run), ``interval`` its grid's."""

    connection_id: str
    run_id: str
    organisation_id: int
    due: int | None
    interval: int


def _pending_run(connection_id: Any, run_id: Any, organisation_id: Any, now: datetime) -> dict[str, Any]:
    """A pending run's columns: values to bind, or the columns of a SELECT to write from."""
    return {
        "connection_id": connection_id,
        "id": run_id,
        "organisation_id": organisation_id,
        "started_at": now,
        "outcome": "pending",
        "events_delivered": 0,
        "batches_dlq": 0,
        "created_at": now,
    }


async def seed_in_steps(
    session: AsyncSession, now: datetime, now_epoch: int, limit: int, run_ids: Callable[[int], list[str]]
) -> list[Seeded]:
    """Pick, claim and write the runs as three statements (SQLite: its write transaction
    already serialises claims). ``run_ids(n)`` mints ``n`` run ids."""
    picked = await pick_due(session, now_epoch, limit)
    if not picked:
        return []
    claimed = await claim(session, list(picked), now, now_epoch)
    seeded = []
    for connection_id, run_id in zip(claimed, run_ids(len(claimed)), strict=True):
        _, org_id, due, interval = picked[connection_id]
        seeded.append(Seeded(connection_id, run_id, org_id, None if due is None else int(due), int(interval)))
    if seeded:
        await insert_pending_runs(
            session, [_pending_run(s.connection_id, s.run_id, s.organisation_id, now) for s in seeded]
        )
    return seeded


async def seed_in_one_statement(
    session: AsyncSession, now: datetime, now_epoch: int, limit: int, run_ids: Callable[[int], list[str]]
) -> list[Seeded]:
    """Pick (skipping rows another replica holds), claim and write the runs of up to ``limit``
    due connections in one statement of data-modifying CTEs: one round trip, and the runs
    written by one INSERT (the per-statement triggers on runs fire once, not once a row).
    ``limit`` run ids are minted up front; the claimed rows, numbered, take the first ones."""
    c = WarehouseConnection.__table__.c
    runs = Run.__table__
    picked = dialect.claiming(
        session,
        select(c.id, c.next_run_epoch.label("due"), c.schedule_interval_seconds.label("interval"))
        .where(_due(now_epoch))
        .order_by(c.next_run_epoch.asc().nulls_first(), c.id)
        .limit(limit),
        of=WarehouseConnection.__table__,
    ).cte("picked")
    claimed = (
        update(WarehouseConnection)
        .where(c.id == picked.c.id, _due(now_epoch))
        .values(next_run_epoch=_next_slot(now, now_epoch))
        .returning(c.id, c.organisation_id, picked.c.due, picked.c.interval)
        .cte("claimed")
    )
    numbered = select(claimed, func.row_number().over(order_by=claimed.c.id).label("ord")).cte("numbered")
    minted = dialect.numbered_strings("run_ids")
    pending = _pending_run(numbered.c.id, minted.c.value, numbered.c.organisation_id, now)
    written = (
        insert(Run)
        .from_select(
            list(pending),
            select(
                *(
                    v if isinstance(v, ColumnElement) else literal(v, runs.c[k].type)
                    for k, v in pending.items()
                )
            )
            .select_from(numbered)
            .join(minted, minted.c.ord == numbered.c.ord),
        )
        .returning(runs.c.connection_id, runs.c.id)
        .cte("written")
    )
    stmt = select(
        written.c.connection_id, written.c.id, numbered.c.organisation_id, numbered.c.due, numbered.c.interval
    ).join(numbered, numbered.c.id == written.c.connection_id)
    rows = (await session.execute(stmt, {"run_ids": run_ids(limit)})).all()
    return sorted(
        (Seeded(r[0], r[1], r[2], None if r[3] is None else int(r[3]), int(r[4])) for r in rows),
        key=lambda s: s.connection_id,
    )


SeedBatch = Callable[[AsyncSession, datetime, int, int, Callable[[int], list[str]]], Awaitable[list[Seeded]]]
# PostgreSQL claims and writes a batch in one statement; SQLite has no data-modifying CTEs.
SEED = dialect.PerDatabase[SeedBatch](postgresql=seed_in_one_statement, sqlite=seed_in_steps)


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
