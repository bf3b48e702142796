"""``GET …/telemetry/`` from the stored answer when it still holds, else computed and stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipepulse.connections.repository import ConnectionRef
from pipepulse.db.session import Database
from pipepulse.errors import NotFound
from pipepulse.rules import Thresholds
from pipepulse.snapshots import horizon, repository
from pipepulse.telemetry import service as telemetry_service


@dataclass(frozen=True)
class Answer:
    """The telemetry answer as JSON bytes, with its entity tag."""

    body: str
    etag: str


async def telemetry(
    database: Database,
    organisation_id: int,
    connection_id: str,
    now: datetime,
    thresholds: Thresholds,
) -> Answer:
    """The connection's §3 answer at ``now``: one statement when its runs are unchanged and
    ``now`` is before the next instant the answer can change at.

    That statement runs on a plain connection, without an ORM session (db/session.py
    ``read_connection``): a session is opened only when the answer must be computed again.
    The caller holds no pooled connection while this runs (a request holding one while it
    waits for a second would, under as many concurrent reads as the pool has, wait on itself)."""
    async with database.read_connection() as connection:
        found = await repository.current(connection, organisation_id, connection_id)
    if found is None:
        raise NotFound("warehouse connection not found")
    basis = horizon.basis(thresholds, found.event_types)
    if (
        found.body is not None
        and found.etag is not None
        and found.answered_version == found.inputs_version
        and found.basis == basis
        and horizon.holds(found.valid_from, found.valid_until, now)
    ):
        return Answer(found.body, found.etag)
    # The version was read first, so the answer computed now is at least as new as it.
    ref = ConnectionRef(found.id, found.organisation_id, found.name, list(found.event_types))
    # Without BEGIN and COMMIT on PostgreSQL (at READ COMMITTED a transaction would give its
    # statements no common snapshot either); the session ends, its connection back in the
    # pool, before the store takes one.
    async with database.session(read_statements=True) as session:
        answer = (await telemetry_service.snapshots(session, [ref], now, thresholds))[ref.id].telemetry
        first = await repository.first_after(session, ref.id, now, thresholds.orphan_window)
    body = answer.model_dump_json()
    etag = horizon.etag(body)
    await repository.store(
        database,
        found,
        basis=basis,
        valid_from=now,
        valid_until=horizon.next_change(first, thresholds),
        etag=etag,
        body=body,
    )
    return Answer(body, etag)
