"""Objectives and error budgets (SPEC §7.6): per connection, and per organisation as the default
of its connections that have none of their own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from fastapi.responses import JSONResponse

from pipepulse.auth import scopes
from pipepulse.auth.dependencies import Reader, user
from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections.dependencies import VisibleConnection, connection_for
from pipepulse.db.models import WarehouseConnection
from pipepulse.deps import AppSettings, Now, ReadSession, WriteSession
from pipepulse.objectives import service
from pipepulse.objectives.schemas import ObjectiveCreate, ObjectiveOut, ObjectiveStatusOut
from pipepulse.organisations import service as organisations_service
from pipepulse.schemas import API_PREFIX, CONNECTION_PATH, ConnectionId, OrganisationPk

router = APIRouter(prefix=API_PREFIX, tags=["objectives"])
writer = user(scopes.WRITE_ALERTS, write=True)
Writer = Annotated[UserPrincipal, Depends(writer)]
# A connection whose objectives the token may set (scope write:alerts), on the write session.
ObjectivesConnection = Annotated[WarehouseConnection, Depends(connection_for(writer, write=True))]
ORG = "/organisations/{organisation_pk}"
ObjectiveId = Annotated[str, Path(pattern=r"^obj_[0-9a-f]{16}$", description="The objective id, obj_….")]


@router.post(CONNECTION_PATH + "/objectives/", response_model=ObjectiveOut, status_code=201)
async def create_connection_objective(
    connection: ObjectivesConnection,
    body: ObjectiveCreate,
    session: WriteSession,
    now: Now,
) -> ObjectiveOut:
    """Set an objective for the connection (it then no longer follows the organisation's defaults)."""
    row = await service.create(
        session,
        connection.organisation_id,
        connection.id,
        body.indicator,
        body.target_percent,
        body.window_days,
        now,
    )
    return ObjectiveOut.of(row)


@router.get(CONNECTION_PATH + "/objectives/", response_model=list[ObjectiveOut])
async def list_connection_objectives(
    connection: VisibleConnection, session: ReadSession
) -> list[ObjectiveOut]:
    """The objectives that apply: the connection's own, or else its organisation's defaults."""
    return [
        ObjectiveOut.of(a.objective, inherited=a.inherited)
        for a in await service.applying(session, connection)
    ]


@router.get(CONNECTION_PATH + "/objectives/{objective_id}/", response_model=ObjectiveOut)
async def get_connection_objective(
    # Declared here too so that OpenAPI lists the path's parameters in the path's order.
    organisation_pk: OrganisationPk,  # noqa: ARG001
    connection_id: ConnectionId,  # noqa: ARG001
    objective_id: ObjectiveId,
    connection: VisibleConnection,
    session: ReadSession,
) -> ObjectiveOut:
    """One objective that applies to the connection."""
    applied = await service.get_applying(session, connection, objective_id)
    return ObjectiveOut.of(applied.objective, inherited=applied.inherited)


@router.delete(CONNECTION_PATH + "/objectives/{objective_id}/", status_code=204)
async def delete_connection_objective(
    # Declared here too so that OpenAPI lists the path's parameters in the path's order.
    organisation_pk: OrganisationPk,  # noqa: ARG001
    connection_id: ConnectionId,  # noqa: ARG001
    objective_id: ObjectiveId,
    connection: ObjectivesConnection,
    session: WriteSession,
) -> Response:
    """Delete one of the connection's own objectives (an organisation default is deleted there)."""
    await service.delete(
        session, await service.get_own(session, connection.organisation_id, connection.id, objective_id)
    )
    return Response(status_code=204)


@router.get(CONNECTION_PATH + "/objectives/{objective_id}/status/", response_model=ObjectiveStatusOut)
async def get_objective_status(
    # Declared here too so that OpenAPI lists the path's parameters in the path's order.
    organisation_pk: OrganisationPk,  # noqa: ARG001
    connection_id: ConnectionId,  # noqa: ARG001
    objective_id: ObjectiveId,
    connection: VisibleConnection,
    session: ReadSession,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """SLI, budget, spent and remaining, burn rates and projected exhaustion over the window ending now."""
    applied = await service.get_applying(session, connection, objective_id)
    found = await service.status(session, connection, applied.objective, now, settings.thresholds)
    body = ObjectiveStatusOut.of(applied.objective, found)
    return JSONResponse(body.model_dump(mode="json", by_alias=True))


@router.post(ORG + "/objectives/", response_model=ObjectiveOut, status_code=201)
async def create_organisation_objective(
    organisation_pk: OrganisationPk, body: ObjectiveCreate, session: WriteSession, principal: Writer, now: Now
) -> ObjectiveOut:
    """Set a default objective for every connection of the organisation that has none of its own."""
    await organisations_service.get_visible(session, principal, organisation_pk)
    row = await service.create(
        session, organisation_pk, None, body.indicator, body.target_percent, body.window_days, now
    )
    return ObjectiveOut.of(row)


@router.get(ORG + "/objectives/", response_model=list[ObjectiveOut])
async def list_organisation_objectives(
    organisation_pk: OrganisationPk, session: ReadSession, principal: Reader
) -> list[ObjectiveOut]:
    """The organisation's default objectives."""
    await organisations_service.get_visible(session, principal, organisation_pk)
    return [ObjectiveOut.of(o) for o in await service.defaults(session, organisation_pk)]


@router.get(ORG + "/objectives/{objective_id}/", response_model=ObjectiveOut)
async def get_organisation_objective(
    organisation_pk: OrganisationPk, objective_id: ObjectiveId, session: ReadSession, principal: Reader
) -> ObjectiveOut:
    """One of the organisation's default objectives."""
    await organisations_service.get_visible(session, principal, organisation_pk)
    return ObjectiveOut.of(await service.get_own(session, organisation_pk, None, objective_id))


@router.delete(ORG + "/objectives/{objective_id}/", status_code=204)
async def delete_organisation_objective(
    organisation_pk: OrganisationPk, objective_id: ObjectiveId, session: WriteSession, principal: Writer
) -> Response:
    """Delete one of the organisation's default objectives."""
    await organisations_service.get_visible(session, principal, organisation_pk)
    await service.delete(session, await service.get_own(session, organisation_pk, None, objective_id))
    return Response(status_code=204)
