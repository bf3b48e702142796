"""SQL for runs. Writes that must happen once are conditional at the database."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import dialect
from pipepulse.db.models import Run
from pipepulse.runs.schemas import COMPLETION_FIELDS


async def get(session: AsyncSession, connection_id: str, run_id: str) -> Run | None:
    return await session.scalar(
        select(Run)
        .where(Run.connection_id == connection_id, Run.id == run_id)
        .execution_options(populate_existing=True)
    )


async def insert_if_absent(session: AsyncSession, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this call created the run."""
    stmt = (
        dialect.insert(dialect.name_of(session), Run)
        .values(values)
        .on_conflict_do_nothing(index_elements=["connection_id", "id"])
        .returning(Run.id)
    )
    return (await session.execute(stmt)).first() is not None


COMPLETION_COLUMNS = (*COMPLETION_FIELDS, "outcome")


@functools.cache
def _complete_statement() -> Any:
    # Built once: constructing the statement per report cost more than running it.
    columns = Run.__table__.c
    return (
        update(Run)
        .where(
            Run.connection_id == bindparam("p_connection_id"),
            Run.id == bindparam("p_run_id"),
            Run.completed_at.is_(None),
            Run.started_at <= bindparam("p_completed_at", type_=columns.completed_at.type),
        )
        .values({name: bindparam(f"v_{name}", type_=columns[name].type) for name in COMPLETION_COLUMNS})
        .returning(Run.started_at)
    )


async def complete_if_pending(
    session: AsyncSession, connection_id: str, run_id: str, values: dict[str, Any]
) -> datetime | None:
    """Complete the run only if nobody has yet and it started by ``completed_at``.

    Returns the run's ``started_at`` when this call completed it, else None. On PostgreSQL a
    concurrent identical report waits on the row lock, then re-checks ``completed_at IS NULL``
    and updates nothing, so a report is never counted twice.
    """
    params = {f"v_{name}": values[name] for name in COMPLETION_COLUMNS}
    params.update(p_connection_id=connection_id, p_run_id=run_id, p_completed_at=values["completed_at"])
    connection = await session.connection()  # Core: no ORM objects involved
    started_at: datetime | None = (await connection.execute(_complete_statement(), params)).scalar()
    return started_at


def outcome_filter(outcome: str, orphaned_before: datetime) -> ColumnElement[bool]:
    if outcome == "pending":
        return and_(Run.completed_at.is_(None), Run.started_at > orphaned_before)
    if outcome == "orphaned":
        return and_(Run.completed_at.is_(None), Run.started_at <= orphaned_before)
    return and_(Run.completed_at.is_not(None), Run.outcome == outcome)


async def page(
    session: AsyncSession,
    connection_id: str,
    *,
    offset: int,
    limit: int,
    where: Sequence[ColumnElement[bool]] = (),
) -> tuple[Sequence[Run], int]:
    query = select(Run).where(Run.connection_id == connection_id, *where)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(Run.started_at.desc(), Run.id.desc()).offset(offset).limit(limit)
    )
    return rows.all(), total


def failing_filter(orphaned_before: datetime) -> ColumnElement[bool]:
    """The failing outcomes together: partial, failed, and pending past the orphan window."""
    return or_(
        and_(Run.completed_at.is_not(None), Run.outcome.in_(("partial", "failed"))),
        and_(Run.completed_at.is_(None), Run.started_at <= orphaned_before),
    )


async def keyset(
    session: AsyncSession,
    connection_id: str,
    *,
    key: tuple[datetime, str] | None,
    direction: str,
    limit: int,
    where: Sequence[ColumnElement[bool]] = (),
) -> Sequence[Run]:
    """Runs in the order newest first (started_at, then id), from a key rather than an offset,
    so runs arriving meanwhile never shift a page.

    ``direction``: ``older`` (strictly after the key in that order), ``from`` (the key's run
    and older) or ``newer`` (strictly before it; the ``limit`` nearest, still newest first).
    """
    query = select(Run).where(Run.connection_id == connection_id, *where)
    newest_first = (Run.started_at.desc(), Run.id.desc())
    if key is None:
        return (await session.scalars(query.order_by(*newest_first).limit(limit))).all()
    at, run_id = key
    if direction == "newer":
        query = query.where(or_(Run.started_at > at, and_(Run.started_at == at, Run.id > run_id)))
        rows = (await session.scalars(query.order_by(Run.started_at, Run.id).limit(limit))).all()
        return list(reversed(rows))
    same = Run.id <= run_id if direction == "from" else Run.id < run_id
    query = query.where(or_(Run.started_at < at, and_(Run.started_at == at, same)))
    return (await session.scalars(query.order_by(*newest_first).limit(limit))).all()


async def count(session: AsyncSession, connection_id: str, where: Sequence[ColumnElement[bool]] = ()) -> int:
    query = select(func.count()).select_from(Run).where(Run.connection_id == connection_id, *where)
    return await session.scalar(query) or 0
