"""SQL for runs. Writes that must happen once are conditional at the database."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, bindparam, func, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import dialect
from pipepulse.db.models import Run, WarehouseConnection
from pipepulse.db.run_rows import RunRow
from pipepulse.kit import run_filters
from pipepulse.rollups import set_based
from pipepulse.rollups import writer as rollups
from pipepulse.rollups.set_based import Completion
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
# The same refusals as the set-based statement's (rollups/set_based.py): a report names the
# run's organisation, and its breakdown only the connection's event types.
_KNOWN_EVENT_TYPES = text(
    "(:p_event_keys IS NULL OR NOT EXISTS ("
    "SELECT 1 FROM json_each(:p_event_keys) AS k WHERE k.value NOT IN ("
    "SELECT t.value FROM warehouse_connections AS c, json_each(c.event_types) AS t "
    "WHERE c.id = runs.connection_id)))"
).bindparams(bindparam("p_event_keys", type_=String))


@functools.cache
def _complete_statement() -> Any:
    # Built once: constructing the statement per report cost more than running it.
    columns = Run.__table__.c
    return (
        update(Run)
        .where(
            Run.connection_id == bindparam("p_connection_id"),
            Run.id == bindparam("p_run_id"),
            Run.organisation_id == bindparam("p_organisation_id"),
            run_filters.unreported(),
            Run.started_at <= bindparam("p_completed_at", type_=columns.completed_at.type),
            _KNOWN_EVENT_TYPES,
        )
        .values({name: bindparam(f"v_{name}", type_=columns[name].type) for name in COMPLETION_COLUMNS})
        .returning(Run.started_at)
    )


async def _complete_one(session: AsyncSession, completion: Completion) -> datetime | None:
    """Complete the run only if nobody has yet and it started by ``completed_at``.

    Returns the run's ``started_at`` when this call completed it, else None. SQLite writes
    one transaction at a time, so no other writer can complete the run in between.
    """
    values = completion.values
    by_type = values["events_by_type"]
    params = {f"v_{name}": values[name] for name in COMPLETION_COLUMNS}
    params.update(
        p_connection_id=completion.connection_id,
        p_run_id=completion.run_id,
        p_organisation_id=completion.organisation_id,
        p_completed_at=values["completed_at"],
        p_event_keys=json.dumps(sorted(by_type)) if by_type is not None else None,
    )
    connection = await session.connection()  # Core: no ORM objects involved
    started_at: datetime | None = (await connection.execute(_complete_statement(), params)).scalar()
    return started_at


async def _complete_each(session: AsyncSession, completions: Sequence[Completion]) -> dict[int, datetime]:
    """Each run's conditional UPDATE, then its rollups, in this transaction."""
    completed: dict[int, datetime] = {}
    for completion in completions:
        started_at = await _complete_one(session, completion)
        if started_at is None:
            continue
        run = RunRow(
            connection_id=completion.connection_id,
            id=completion.run_id,
            organisation_id=completion.organisation_id,
            started_at=started_at,
            **completion.values,
        )
        await rollups.add_completed_run(session, run)
        completed[completion.index] = started_at
    return completed


Complete = Callable[[AsyncSession, Sequence[Completion]], Awaitable[dict[int, datetime]]]
# PostgreSQL completes any number of runs and their rollups in one statement of
# data-modifying CTEs; SQLite has none, so it runs each run's statements in turn.
_COMPLETE = dialect.PerDatabase[Complete](postgresql=set_based.complete, sqlite=_complete_each)


async def complete(session: AsyncSession, completions: Sequence[Completion]) -> dict[int, datetime]:
    """Complete the pending runs the completions name and add them to the rollups.

    Returns ``{index: started_at}`` of the runs this call completed; a completion that
    changed nothing (run unknown, already completed, started after ``completed_at``, another
    organisation's, or naming an event type its connection lacks) is left out. Each run at
    most once per call.
    """
    if not completions:
        return {}
    return await _COMPLETE.of(session)(session, completions)


async def connections_by_key(
    session: AsyncSession, keys: set[tuple[int, str]]
) -> dict[tuple[int, str], WarehouseConnection]:
    """The connections named by (organisation id, connection id)."""
    c = WarehouseConnection
    found = await session.scalars(select(c).where(tuple_(c.organisation_id, c.id).in_(keys)))
    return {(conn.organisation_id, conn.id): conn for conn in found}


async def runs_by_key(session: AsyncSession, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Run]:
    """The runs named by (connection id, run id), as they stand now."""
    found = await session.scalars(
        select(Run)
        .where(tuple_(Run.connection_id, Run.id).in_(keys))
        .execution_options(populate_existing=True)
    )
    return {(run.connection_id, run.id): run for run in found}


def outcome_filter(outcome: str, orphaned_before: datetime) -> ColumnElement[bool]:
    return run_filters.outcome(outcome, orphaned_before)


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
    return run_filters.failing(orphaned_before)


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
