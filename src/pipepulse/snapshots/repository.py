"""The reads and the write of stored answers: one statement each, built once per dialect."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pipepulse.db import dialect
from pipepulse.db.models import Run, StatusSnapshot, WarehouseConnection
from pipepulse.db.session import Database
from pipepulse.kit import run_filters
from pipepulse.rollups.plan import TICK
from pipepulse.snapshots.horizon import DAY_SPANS, SPANS, DayFirstAfter, FirstAfter


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


async def current(
    reader: AsyncSession | AsyncConnection, organisation_id: int, connection_id: str
) -> Current | None:
    """The connection of that organisation with its stored answer, by primary keys: the whole
    read of an unchanged connection."""
    result = await reader.execute(
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


@dataclass(frozen=True)
class StoredLatest:
    """What is stored of a connection's bulk ``latest`` answer (``answered_version`` None: nothing)."""

    inputs_version: int
    answered_version: int | None
    basis: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    body: str | None


@functools.cache
def _stored_latest(name: str) -> Any:
    s = StatusSnapshot
    return select(
        s.connection_id,
        s.inputs_version,
        s.latest_version,
        s.latest_basis,
        s.latest_valid_from,
        s.latest_valid_until,
        s.latest_body,
    ).where(dialect.in_param(name, s.connection_id, "ids"))


async def stored_latest(session: AsyncSession, ids: Sequence[str]) -> dict[str, StoredLatest]:
    """The stored bulk ``latest`` answers of these connections, one statement per
    :func:`dialect.chunks` piece (a connection without a row has had no run and no answer)."""
    name = dialect.name_of(session)
    out = {}
    for chunk in dialect.chunks(session, ids):
        for row in await session.execute(_stored_latest(name), {"ids": list(chunk)}):
            out[row[0]] = StoredLatest(*row[1:])
    return out


@functools.cache
def _day_first_after(name: str) -> Any:
    """Per connection, four probes (completed and pending, spans 0 and 24 hours), each the
    first entry after an instant in one index of its runs."""
    c = WarehouseConnection
    here = Run.connection_id == c.id
    completed = [
        select(func.min(Run.completed_at))
        .where(here, Run.completed_at > _t(f"completed_{i}"))
        .scalar_subquery()
        for i in range(len(DAY_SPANS))
    ]
    pending = [
        select(func.min(Run.started_at))
        .where(here, run_filters.pending(_t(f"pending_{i}")))
        .scalar_subquery()
        for i in range(len(DAY_SPANS))
    ]
    return select(c.id, *completed, *pending).where(dialect.in_param(name, c.id, "ids"))


async def day_first_after(
    session: AsyncSession, ids: Sequence[str], at: datetime, orphan_window: timedelta
) -> dict[str, DayFirstAfter]:
    """For many connections at once, the earliest run times at or after ``at - span`` for
    the spans of bulk ``latest`` (probed strictly after ``at - TICK``)."""
    name = dialect.name_of(session)
    params: dict[str, Any] = {}
    for i, span in enumerate(DAY_SPANS):
        params[f"completed_{i}"] = at - TICK - span
        params[f"pending_{i}"] = at - TICK - orphan_window - span
    out = {}
    for chunk in dialect.chunks(session, ids):
        for cid, *values in await session.execute(_day_first_after(name), params | {"ids": list(chunk)}):
            times = [dialect.as_utc(value) for value in values]
            out[cid] = DayFirstAfter(completed=(times[0], times[1]), pending=(times[2], times[3]))
    return out


@dataclass(frozen=True)
class LatestAnswer:
    """A bulk ``latest`` answer to store, computed at ``inputs_version``."""

    connection_id: str
    organisation_id: int
    inputs_version: int
    basis: str
    valid_from: datetime
    valid_until: datetime | None
    body: str


@functools.cache
def _store_latest(name: str) -> Any:
    stmt = dialect.insert(name, StatusSnapshot)
    answer = ("latest_version", "latest_basis", "latest_valid_from", "latest_valid_until", "latest_body")
    # As for the telemetry answer: kept only if no run was written since the version was read.
    return stmt.on_conflict_do_update(
        index_elements=["connection_id"],
        set_={column: stmt.excluded[column] for column in answer},
        where=StatusSnapshot.__table__.c.inputs_version == stmt.excluded.inputs_version,
    )


async def store_latest(database: Database, answers: Sequence[LatestAnswer]) -> None:
    """Store bulk ``latest`` answers in one short transaction of their own, in connection
    order (the triggers lock these rows in that order too)."""
    if not answers:
        return
    values = [
        {
            "connection_id": a.connection_id,
            "organisation_id": a.organisation_id,
            "inputs_version": a.inputs_version,
            "latest_version": a.inputs_version,
            "latest_basis": a.basis,
            "latest_valid_from": a.valid_from,
            "latest_valid_until": a.valid_until,
            "latest_body": a.body,
        }
        for a in sorted(answers, key=lambda a: a.connection_id)
    ]
    try:
        async with database.session(statements=True) as session:
            await session.execute(_store_latest(database.dialect), values)
    except IntegrityError:
        # A connection was deleted meanwhile; the others are stored on the next read.
        return
