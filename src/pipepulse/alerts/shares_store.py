"""SQL of the evaluation shares (``shares``): each replica's lease on its partitions.

Every alert pass claims in one short write transaction: the replica renews its own row in
``evaluation_replicas``, counts the live replicas, gives up what it holds beyond its fair share,
takes free partitions (never held, released, or whose lease ran out) up to it with
``FOR UPDATE SKIP LOCKED`` (two replicas claiming at once take different ones), and renews the
rest. On SQLite a write transaction serialises the claims; the scheduler there is single and
does not use shares at all (``scheduler.runner``), but the claims behave the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts.shares import PARTITIONS, Share, plan
from pipepulse.db import dialect
from pipepulse.db.models import EvaluationReplica, EvaluationShare
from pipepulse.db.session import Database


async def ensure_partitions(session: AsyncSession, partitions: int) -> None:
    stmt = dialect.insert(dialect.name_of(session), EvaluationShare).on_conflict_do_nothing(
        index_elements=["partition"]
    )
    await session.execute(
        stmt, [{"partition": p, "owner": None, "expires_at": None} for p in range(partitions)]
    )


async def live_replicas(session: AsyncSession, owner: str, now: datetime, until: datetime) -> int:
    """Renew ``owner``'s membership, forget replicas whose membership ran out; how many live."""
    r = EvaluationReplica
    stmt = dialect.insert(dialect.name_of(session), r).values(owner=owner, expires_at=until)
    await session.execute(stmt.on_conflict_do_update(index_elements=["owner"], set_={"expires_at": until}))
    # Rows another replica is renewing right now are skipped, never waited for: two replicas
    # that each forget the other while renewing their own would wait on each other.
    stale = select(r.owner).where(r.expires_at <= now, r.owner != owner)
    gone = list(await session.scalars(dialect.claiming(session, stale, of=r.__table__)))
    if gone:
        await session.execute(delete(r).where(r.owner.in_(gone)))
    return int(await session.scalar(select(func.count()).select_from(r).where(r.expires_at > now)) or 0)


async def claim(
    session: AsyncSession, owner: str, now: datetime, lease: timedelta, partitions: int = PARTITIONS
) -> Share:
    """The partitions ``owner`` evaluates until ``now + lease``; the caller commits."""
    s = EvaluationShare.__table__.c
    until = now + lease
    replicas = await live_replicas(session, owner, now, until)
    mine = select(s.partition).where(s.owner == owner, s.partition < partitions).order_by(s.partition)
    # A partition of ours another replica is taking over right now (its lease ran out) is left to it.
    held = list(await session.scalars(dialect.claiming(session, mine, of=EvaluationShare.__table__)))
    chosen = plan(held, replicas, partitions)
    if chosen.release:
        await session.execute(
            update(EvaluationShare)
            .where(s.partition.in_(sorted(chosen.release)), s.owner == owner)
            .values(owner=None, expires_at=None)
            .execution_options(synchronize_session=False)
        )
    taken: list[int] = []
    if chosen.wanted:
        free = (
            select(s.partition)
            .where(
                s.partition < partitions,
                or_(s.owner.is_(None), s.owner != owner),
                or_(s.expires_at.is_(None), s.expires_at <= now),
            )
            .order_by(s.partition)
            .limit(chosen.wanted)
        )
        taken = list(await session.scalars(dialect.claiming(session, free, of=EvaluationShare.__table__)))
    if chosen.keep or taken:
        await session.execute(
            update(EvaluationShare)
            .where(s.partition.in_(sorted(chosen.keep | set(taken))))
            .values(owner=owner, expires_at=until)
            .execution_options(synchronize_session=False)
        )
    return Share(chosen.keep | frozenset(taken), frozenset(taken), partitions)


async def release(session: AsyncSession, owner: str) -> None:
    """Give up every partition and the membership (a scheduler stopping): the others take
    them at their next pass instead of waiting for the leases to run out."""
    s = EvaluationShare.__table__.c
    await session.execute(
        update(EvaluationShare)
        .where(s.owner == owner)
        .values(owner=None, expires_at=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(EvaluationReplica).where(EvaluationReplica.owner == owner))


class EvaluationShares:
    """One scheduler's claims, pass after pass."""

    def __init__(self, db: Database, owner: str, lease: timedelta, partitions: int = PARTITIONS) -> None:
        self._db, self.owner, self.lease, self.partitions = db, owner, lease, partitions
        self._ensured = False
        self.last: Share | None = None  # what the last claim gave (logged, on /metrics)

    async def claim(self, now: datetime) -> Share:
        async with self._db.session(write=True) as session:
            if not self._ensured:
                await ensure_partitions(session, self.partitions)
            found = await claim(session, self.owner, now, self.lease, self.partitions)
        self._ensured = True
        self.last = found
        return found

    async def release(self) -> None:
        async with self._db.session(write=True) as session:
            await release(session, self.owner)
