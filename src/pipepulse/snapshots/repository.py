"""The reads and the write of stored answers: one statement each, built once per dialect."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import dialect
from pipepulse.db.models import Run, StatusSnapshot, WarehouseConnection
from pipepulse.db.session import Database
from pipepulse.kit import run_filters
from pipepulse.snapshots.horizon import SPANS, FirstAfter


@dataclass(frozen=True)
class Current:
    """A connection and what is stored of its answer (``answered_version`` None: nothing)."""

    id: str
    organisation_id: int
    name: str
    event_types: list[str]
    inputs_version: int
    answered_version: int | None
    basis: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    etag: str | None
    body: str | None


_CURRENT = (
    select(
        WarehouseConnection.id,
        WarehouseConnection.organisation_id,
        WarehouseConnection.name,
        WarehouseConnection.event_types,
        func.coalesce(StatusSnapshot.inputs_version, 0).label("inputs_version"),
        StatusSnapshot.answered_version,
        StatusSnapshot.basis,
        StatusSnapshot.valid_from,
        StatusSnapshot.valid_until,
        StatusSnapshot.etag,
        StatusSnapshot.body,
    )
    .outerjoin(StatusSnapshot, StatusSnapshot.connection_id == WarehouseConnection.id)
    .where(
        WarehouseConnection.organisation_id == bindparam("organisation_id"),
        WarehouseConnection.id == bindparam("connection_id"),
    )
)


async def current(session: AsyncSession, organisation_id: int, connection_id: str) -> Current | None:
    """The connection of that organisation with its stored answer, by primary keys: the whole
    read of an unchanged connection."""
    result = await session.execute(
        _CURRENT, {"organisation_id": organisation_id, "connection_id": connection_id}
    )
    row = result.one_or_none()
    if row is None:
        return None
    return Current(**row._asdict())


def _t(name: str) -> Any:
    return bindparam(name, type_=Run.__table__.c.completed_at.type)


def _first_after() -> Any:
    """Six probes, each the first entry after an instant in one index of the runs."""
    here = Run.connection_id == bindparam("connection_id")
    completed = [
        select(func.min(Run.completed_at))
        .where(here, Run.completed_at > _t(f"completed_{i}"))
        .scalar_subquery()
        for i in range(len(SPANS))
    ]
    pending = [
        select(func.min(Run.started_at))
        .where(here, run_filters.pending(_t(f"pending_{i}")))
        .scalar_subquery()
        for i in range(len(SPANS))
    ]
    return select(*completed, *pending)


_FIRST_AFTER = _first_after()


async def first_after(
    session: AsyncSession, connection_id: str, at: datetime, orphan_window: timedelta
) -> FirstAfter:
    """The earliest run times after the instants the connection's windows can change at."""
    params: dict[str, Any] = {"connection_id": connection_id}
    for i, span in enumerate(SPANS):
        params[f"completed_{i}"] = at - span
        params[f"pending_{i}"] = at - orphan_window - span
    row = (await session.execute(_FIRST_AFTER, params)).one()
    times = [dialect.as_utc(value) for value in row]
    return FirstAfter(completed=(times[0], times[1], times[2]), pending=(times[3], times[4], times[5]))


@functools.cache
def _store(name: str) -> Any:
    stmt = dialect.insert(name, StatusSnapshot)
    answer = ("answered_version", "basis", "valid_from", "valid_until", "etag", "body")
    # Kept only if no run was written since the version was read: a write in between bumped
    # it (or created the row), and the answer may predate that write.
    return stmt.on_conflict_do_update(
        index_elements=["connection_id"],
        set_={column: stmt.excluded[column] for column in answer},
        where=StatusSnapshot.__table__.c.inputs_version == stmt.excluded.inputs_version,
    )


async def store(
    database: Database,
    current: Current,
    *,
    basis: str,
    valid_from: datetime,
    valid_until: datetime | None,
    etag: str,
    body: str,
) -> None:
    """Store an answer computed at version ``current.inputs_version``, in its own short
    transaction: the request's read transaction writes nothing."""
    values = {
        "connection_id": current.id,
        "organisation_id": current.organisation_id,
        "inputs_version": current.inputs_version,
        "answered_version": current.inputs_version,
        "basis": basis,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "etag": etag,
        "body": body,
    }
    try:
        async with database.session(statements=True) as session:
            await session.execute(_store(database.dialect), values)
    except IntegrityError:
        # The connection was deleted meanwhile: there is nothing to keep an answer for.
        return
