"""The group pass's writes to its groups: each group it looked at moves to its next version
(its next look, and what it told or that it closed) only where its version is still the one the
pass read — compare and set, so of two replicas looking at a group at once one moves it and the
other leaves it alone.

PostgreSQL moves every group of a pass in one ``UPDATE … FROM unnest(…)``: in an outage a pass
moves hundreds of groups, and one statement each cost a round trip and a plan each. SQLite has
one writer at a time (the pass's write transaction holds the database), so a statement per
group costs no round trip and is kept.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, bindparam, case, cast, column, func, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from pipepulse.db import dialect
from pipepulse.db.models import AlertGroup


@dataclass(frozen=True)
class Move:
    """A group's next version: ``next_look`` always; ``notified`` (the ``[alert id, firing]``
    pairs told, sorted) when the pass tells it, which also stamps ``last_notified_at``;
    ``close`` when it closes."""

    group_id: str
    version: int
    next_look: datetime | None
    notified: list[list[Any]] | None
    close: bool


Moves = Callable[[AsyncSession, Sequence[Move], datetime], Awaitable[set[str]]]


async def _one_by_one(session: AsyncSession, moves: Sequence[Move], now: datetime) -> set[str]:
    g = AlertGroup
    moved = set()
    for m in moves:
        values: dict[str, Any] = {"version": m.version + 1, "next_notify_at": m.next_look}
        if m.notified is not None:
            values |= {"notified": m.notified, "last_notified_at": now}
        if m.close:
            values |= {"state": "closed", "closed_at": now}
        result = await session.execute(
            update(g)
            .where(g.id == m.group_id, g.version == m.version)
            .values(**values)
            .returning(g.id)
            .execution_options(synchronize_session=False)
        )
        if result.first() is not None:
            moved.add(m.group_id)
    return moved


async def _in_one_statement(session: AsyncSession, moves: Sequence[Move], now: datetime) -> set[str]:
    g = AlertGroup.__table__.c
    shape: dict[str, TypeEngine[Any]] = {
        "id": String(),
        "version": Integer(),
        "next_look": DateTime(timezone=True),
        "tells": Boolean(),
        "notified": String(),
        "closes": Boolean(),
    }
    arrays = [bindparam(f"move_{name}", type_=postgresql.ARRAY(kind)) for name, kind in shape.items()]
    v = func.unnest(*arrays).table_valued(*(column(n, k) for n, k in shape.items())).render_derived(name="v")
    stmt = (
        update(AlertGroup)
        .where(g.id == v.c.id, g.version == v.c.version)
        .values(
            version=v.c.version + 1,
            next_notify_at=v.c.next_look,
            notified=case((v.c.tells, cast(v.c.notified, JSON)), else_=g.notified),
            last_notified_at=case((v.c.tells, now), else_=g.last_notified_at),
            state=case((v.c.closes, "closed"), else_=g.state),
            closed_at=case((v.c.closes, now), else_=g.closed_at),
        )
        .returning(g.id)
        .execution_options(synchronize_session=False)
    )
    params = {
        "move_id": [m.group_id for m in moves],
        "move_version": [m.version for m in moves],
        "move_next_look": [m.next_look for m in moves],
        "move_tells": [m.notified is not None for m in moves],
        "move_notified": [json.dumps(m.notified) if m.notified is not None else None for m in moves],
        "move_closes": [m.close for m in moves],
    }
    return set(await session.scalars(stmt, params))


_MOVE = dialect.PerDatabase[Moves](postgresql=_in_one_statement, sqlite=_one_by_one)


async def move(session: AsyncSession, moves: Sequence[Move], now: datetime) -> set[str]:
    """Move each group still at the version read; the ids of those this transaction moved."""
    if not moves:
        return set()
    return await _MOVE.of(session)(session, moves, now)
