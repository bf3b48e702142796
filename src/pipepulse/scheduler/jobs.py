"""The recurring work, as plain functions of a session and ``now`` (SPEC §2).

Slots lie on a fixed grid per connection: ``next_run_epoch`` is the slot a connection is due
at, and a claim moves it to the next slot of the same grid (slot + k * interval), never to
``now + interval``, so a run seeded late keeps its slot and lateness never accumulates. A slot
that passed entirely without a run (the scheduler was down, or the connection paused) is
counted as missed and never run afterwards: only the latest slot that has come is seeded.

Replicas coordinate through the database. On PostgreSQL a pass claims due connections in
batches with ``SELECT … FOR NO KEY UPDATE SKIP LOCKED``, so two replicas seed disjoint shares at
once; on SQLite a write transaction serialises the claims (one scheduler is the supported
layout there). Either way the conditional UPDATE re-checks the slot, so no connection gets two
runs for one slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import ids
from pipepulse.rules import orphaned_before
from pipepulse.scheduler import repository
from pipepulse.wire.invocation import LoaderJob


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

    def payload(self) -> dict[str, object]:
        """The invocation body, as the wire contract writes it (and loaders read it)."""
        return LoaderJob(self.run_id, self.connection_id, self.organisation_id).to_event()


def epoch(value: datetime) -> int:
    return int(value.timestamp())


# Connections one claim takes: small enough that two replicas interleave their claims (each
# batch is its own short transaction), large enough that a pass over 10,000 is a few dozen.
SEED_BATCH = 500


async def seed_due_runs(session: AsyncSession, now: datetime, *, limit: int | None = None) -> list[SeededRun]:
    """Claim due connections (at most ``limit``) and write their pending runs, before anything
    is invoked. The caller commits; a pass repeats this until nothing is left to claim.

    Each batch of :data:`SEED_BATCH` is claimed and written together (on PostgreSQL in one
    statement); without a ``limit`` batches follow in the same transaction until one is short."""
    now_epoch = epoch(now)
    seed_batch = repository.SEED.of(session)

    def run_ids(count: int) -> list[str]:
        return [ids.run_id(now) for _ in range(count)]

    seeded: list[SeededRun] = []
    while limit is None or len(seeded) < limit:
        size = SEED_BATCH if limit is None else min(SEED_BATCH, limit - len(seeded))
        batch = await seed_batch(session, now, now_epoch, size, run_ids)
        for s in batch:
            passed = 0 if s.due is None else (now_epoch - s.due) // s.interval
            slot = None if s.due is None else s.due + passed * s.interval
            seeded.append(SeededRun(s.run_id, s.connection_id, s.organisation_id, slot, passed))
        if len(batch) < size:
            break
    return seeded


async def due_outlook(session: AsyncSession, now: datetime) -> tuple[int, int | None]:
    """How many connections are due now and not yet claimed (the backlog), and the epoch of
    the earliest slot still to come (None when no connection is scheduled)."""
    return await repository.outlook(session, epoch(now))


async def sweep_orphans(session: AsyncSession, now: datetime, orphan_window: timedelta) -> int:
    """Store the orphan transition of runs that never reported back (readers derive it anyway)."""
    return await repository.mark_orphaned(session, orphaned_before(now, orphan_window), now)


async def beat(session: AsyncSession, scheduler_id: str, now: datetime, seeded: int) -> None:
    """Record that this scheduler finished a tick (``/readyz`` reads it)."""
    await repository.beat(session, scheduler_id, now, seeded)
