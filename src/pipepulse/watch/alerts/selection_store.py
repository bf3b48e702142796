"""SQL of the incremental evaluation: each connection's inputs as one small row, the run
instants its horizon depends on, and the lease that lets one replica evaluate at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pipepulse.db import dialect
from pipepulse.db.models import ConnectionRunTimes, Run, WarehouseConnection
from pipepulse.db.session import Database
from pipepulse.rules import DAY, Thresholds
from pipepulse.watch import verdicts
from pipepulse.watch.alerts.selection import Edges, Inputs

# The PostgreSQL advisory lock key of the evaluation lease ("pp-eval" in ASCII).
EVALUATION_LOCK = 0x70702D6576616C


async def inputs(session: AsyncSession) -> dict[str, Any]:
    """Every connection that is not paused, with what a report, a seed, an edit or another
    replica's recorded change moves: its row's edit time, state and next slot; the latest
    completion times every report keeps; its pending runs (count and newest start, off the
    small pending index).

    What another replica recorded is not an input: only the lease holder evaluates, and a
    replica that takes the lease over starts with a full pass."""
    c, t, r = WarehouseConnection, ConnectionRunTimes, Run
    pending = (
        select(r.connection_id, func.count().label("n"), func.max(r.started_at).label("newest"))
        .where(r.completed_at.is_(None))
        .group_by(r.connection_id)
        .subquery()
    )
    query = (
        select(
            c.id,
            c.updated_at,
            c.state,
            c.next_run_epoch,
            c.schedule_interval_seconds,
            c.freshness_sla_seconds,
            c.created_at,
            t.last_completed_at,
            t.last_failing_at,
            t.last_delivery_at,
            pending.c.n,
            pending.c.newest,
        )
        .outerjoin(t, t.connection_id == c.id)
        .outerjoin(pending, pending.c.connection_id == c.id)
        .where(c.state != "paused")
    )
    # The rows are the signatures: compared whole, turned into Inputs only for those visited.
    rows: Sequence[Any] = (await session.execute(query)).all()
    return {row[0]: row for row in rows}


def inputs_of(row: Any, thresholds: Thresholds) -> Inputs:
    """What the horizon needs of one row of :func:`inputs`."""
    return Inputs(
        state=row.state,
        created_at=row.created_at,
        sla=verdicts.freshness_sla(
            row.freshness_sla_seconds, row.schedule_interval_seconds, thresholds.orphan_window
        ),
        last_failing_at=row.last_failing_at,
        last_delivery_at=row.last_delivery_at,
    )


async def edges(
    session: AsyncSession, ids: Sequence[str], now: datetime, thresholds: Thresholds
) -> dict[str, Edges]:
    """Each connection's horizon instants, by index probes (one correlated probe per kind)."""
    c, r = WarehouseConnection, Run
    window = thresholds.orphan_window
    mine = r.connection_id == c.id

    def first(column: Any, *where: Any) -> Any:
        return select(func.min(column)).where(mine, *where).scalar_subquery()

    nth = (
        select(r.completed_at)
        .where(mine, r.completed_at <= now)
        .order_by(r.completed_at.desc())
        .limit(1)
        .offset(max(0, thresholds.error_status_runs - 1))
        .scalar_subquery()
    )
    columns = (
        nth,
        first(r.completed_at, r.completed_at > now - DAY, r.completed_at <= now),
        first(r.completed_at, r.completed_at > now),
        first(r.started_at, r.completed_at.is_(None), r.started_at > now - window),
        first(
            r.started_at,
            r.completed_at.is_(None),
            r.started_at > now - window - DAY,
            r.started_at <= now - window,
        ),
    )
    out: dict[str, Edges] = {}
    for chunk in dialect.chunks(session, list(ids)):
        rows = await session.execute(select(c.id, *columns).where(dialect.one_of(session, c.id, chunk)))
        for cid, *found in rows:
            out[cid] = Edges(*(dialect.as_utc(value) for value in found))
    return out


class EvaluationLease:
    """One replica evaluates at a time (PostgreSQL): the holder keeps a session-level advisory
    lock on a connection of its own for as long as it lives; another replica takes over at its
    next pass once that connection is gone. SQLite runs one scheduler, which always holds it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._connection: AsyncConnection | None = None
        # Whether the last :meth:`held` took the lease (rather than kept it): what this replica
        # remembers of earlier passes is then stale, and the next pass is a full one.
        self.taken = False

    async def held(self) -> bool:
        self.taken = False
        if self._db.dialect != "postgresql":
            return True
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                await self._connection.commit()
                return True
            except Exception:  # the connection (and so the lock) is gone: try to take it again
                await self._close()
        connection = await self._db.engine.connect()
        try:
            got = bool(
                await connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": EVALUATION_LOCK})
            )
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if got:
            self._connection = connection
            self.taken = True
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": EVALUATION_LOCK})
                await self._connection.commit()
            finally:
                await self._close()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # already broken; the lock went with it
                pass
