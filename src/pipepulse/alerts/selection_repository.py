"""SQL of the incremental evaluation: each connection's inputs as one small row, and the run
instants its horizon depends on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts.selection import Edges, Inputs
from pipepulse.db import dialect
from pipepulse.db.models import ConnectionRunTimes, Run, WarehouseConnection
from pipepulse.kit import run_filters
from pipepulse.rollups.plan import TICK
from pipepulse.rules import DAY, Thresholds
from pipepulse.status import verdicts


async def inputs(session: AsyncSession) -> dict[str, Any]:
    """Every connection that is not paused, with what a report, a seed, an edit or another
    replica's recorded change moves: its row's edit time, state and next slot; the latest
    completion times every report keeps; its pending runs (count and newest start, off the
    small pending index).

    What another replica recorded is not an input: each connection is evaluated by the one
    replica holding its partition (``shares``), and a replica visits the connections of a
    partition it takes over as new."""
    c, t, r = WarehouseConnection, ConnectionRunTimes, Run
    pending = (
        select(r.connection_id, func.count().label("n"), func.max(r.started_at).label("newest"))
        .where(run_filters.unreported())
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
        first(r.started_at, run_filters.pending(now - window)),
        # Orphans whose orphan instant is in (now - DAY, now]: still inside the 24 hours.
        first(r.started_at, run_filters.orphans_finished_in(now - DAY + TICK, now + TICK, window)),
    )
    out: dict[str, Edges] = {}
    for chunk in dialect.chunks(session, list(ids)):
        rows = await session.execute(select(c.id, *columns).where(dialect.one_of(session, c.id, chunk)))
        for cid, *found in rows:
            out[cid] = Edges(*(dialect.as_utc(value) for value in found))
    return out
