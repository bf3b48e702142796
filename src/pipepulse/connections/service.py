"""Warehouse connections: the rules around creating, changing and removing them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import ids
from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections import repository
from pipepulse.connections.schemas import ConnectionCreate, ConnectionUpdate, LineageJob
from pipepulse.db.models import WarehouseConnection
from pipepulse.errors import Conflict, Invalid, NotFound
from pipepulse.kit.lookup import found_or_404
from pipepulse.organisations import service as organisations_service
from pipepulse.rollups import settled


async def get_visible(
    session: AsyncSession, principal: UserPrincipal, organisation_id: int, connection_id: str
) -> WarehouseConnection:
    """The connection, or 404 when it, or its organisation, is not the token's to see."""
    if not principal.can_see(organisation_id):
        raise NotFound("warehouse connection not found")
    return await get(session, organisation_id, connection_id)


async def get_visible_state(
    session: AsyncSession, principal: UserPrincipal, organisation_id: int, connection_id: str
) -> repository.ConnectionState:
    """``get_visible`` for a reader of the id and state alone: one column on the session's
    plain connection, no ORM object; the same 404."""
    if not principal.can_see(organisation_id):
        raise NotFound("warehouse connection not found")
    found = await repository.state_of(await session.connection(), organisation_id, connection_id)
    return found_or_404(found, "warehouse connection not found")


async def get_visible_ref(
    session: AsyncSession, principal: UserPrincipal, organisation_id: int, connection_id: str
) -> repository.ConnectionRef:
    """``get_visible`` for a reader of its runs (id, organisation, name, event types): one row
    on the session's plain connection, no ORM object; the same 404."""
    if not principal.can_see(organisation_id):
        raise NotFound("warehouse connection not found")
    found = await repository.ref_of(await session.connection(), organisation_id, connection_id)
    return found_or_404(found, "warehouse connection not found")


async def get(session: AsyncSession, organisation_id: int, connection_id: str) -> WarehouseConnection:
    connection = await repository.get(session, organisation_id, connection_id)
    return found_or_404(connection, "warehouse connection not found")


async def create(
    session: AsyncSession,
    principal: UserPrincipal,
    organisation_id: int,
    body: ConnectionCreate,
    now: datetime,
) -> WarehouseConnection:
    await organisations_service.get_visible(session, principal, organisation_id)
    await _check_lineage_job_free(session, organisation_id, body.lineage_job, None)
    connection = WarehouseConnection(
        id=ids.connection_id(),
        organisation_id=organisation_id,
        name=body.name,
        type=body.type,
        integration_type=body.integration_type,
        config=body.config,
        state=body.state,
        event_types=body.event_types,
        schedule_interval_seconds=body.schedule_interval_seconds,
        freshness_sla_seconds=body.freshness_sla_seconds,
        created_at=now,
        updated_at=now,
    )
    _set_lineage_job(connection, body.lineage_job)
    session.add(connection)
    await session.flush()
    return connection


async def update(
    session: AsyncSession, connection: WarehouseConnection, body: ConnectionUpdate, now: datetime
) -> WarehouseConnection:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("type") not in (None, connection.type):
        raise Invalid(
            f"type cannot change (it is {connection.type!r}); create a new connection instead",
            loc=("body", "type"),
        )
    if changes.get("integration_type") not in (None, connection.integration_type):
        # Organisation health keeps its settled hours' sums per integration type.
        await settled.bump(session, [connection.organisation_id])
    for field in (
        "name",
        "integration_type",
        "config",
        "state",
        "event_types",
        "schedule_interval_seconds",
    ):
        value = changes.get(field)
        if value is not None:
            setattr(connection, field, value)
    if "freshness_sla_seconds" in changes:
        connection.freshness_sla_seconds = changes["freshness_sla_seconds"]
    if "lineage_job" in changes:
        await _check_lineage_job_free(session, connection.organisation_id, body.lineage_job, connection.id)
        _set_lineage_job(connection, body.lineage_job)
    connection.updated_at = now
    await session.flush()
    return connection


def _set_lineage_job(connection: WarehouseConnection, job: LineageJob | None) -> None:
    # The digest is unique per organisation: job names are too long for a plain index.
    connection.lineage_namespace = job.namespace if job else None
    connection.lineage_name = job.name if job else None
    connection.lineage_key = repository.lineage_key(job.namespace, job.name) if job else None


async def _check_lineage_job_free(
    session: AsyncSession, organisation_id: int, job: LineageJob | None, connection_id: str | None
) -> None:
    if job is None:
        return
    holder = await repository.by_lineage_key(
        session, organisation_id, repository.lineage_key(job.namespace, job.name)
    )
    if holder is not None and holder.id != connection_id:
        raise Conflict(
            f"connection {holder.id!r} already watches the OpenLineage job {job.namespace}/{job.name}; "
            "a job feeds one connection of an organisation"
        )


async def remove(session: AsyncSession, connection: WarehouseConnection) -> None:
    await repository.delete_one(session, connection)
    # Its rollups went with it, settled hours too.
    await settled.bump(session, [connection.organisation_id])


async def list_page(
    session: AsyncSession,
    principal: UserPrincipal,
    organisation_id: int,
    *,
    offset: int,
    limit: int,
    state: str | None,
    integration_type: str | None,
) -> tuple[Sequence[WarehouseConnection], int]:
    await organisations_service.get_visible(session, principal, organisation_id)
    return await repository.page(
        session,
        organisation_id,
        offset=offset,
        limit=limit,
        state=state,
        integration_type=integration_type,
    )
