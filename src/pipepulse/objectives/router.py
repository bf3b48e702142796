"""Objectives and error budgets (SPEC §7.6): per connection, and per organisation as the default
of its connections that have none of their own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from fastapi.responses import JSONResponse

from pipepulse.auth import scopes
from pipepulse.auth.dependencies import user
from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections import service as connections_service
from pipepulse.deps import AppSettings, Now, ReadSession, WriteSession
from pipepulse.objectives import service
from pipepulse.objectives.schemas import ObjectiveCreate, ObjectiveOut, ObjectiveStatusOut
from pipepulse.organisations import service as organisations_service
from pipepulse.schemas import API_PREFIX, CONNECTION_PATH, ConnectionId, OrganisationPk

router = APIRouter(prefix=API_PREFIX, tags=["objectives"])
Reader = Annotated[UserPrincipal, Depends(user(scopes.READ_PIPELINE_METRICS))]
Writer = Annotated[UserPrincipal, Depends(user(scopes.WRITE_ALERTS, write=True))]
ORG = "/organisations/{organisation_pk}"
ObjectiveId = Annotated[str, Path(pattern=r"^obj_[0-9a-f]{16}$", description="The objective id, obj_….")]


@router.post(CONNECTION_PATH + "/objectives/", response_model=ObjectiveOut, status_code=201)
async def create_connection_objective(
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    body: ObjectiveCreate,
    session: WriteSession,
    principal: Writer,
    now: Now,
) -> ObjectiveOut:
    """Set an objective for the connection (it then no longer follows the organisation's defaults)."""
    connection = await connections_service.get_visible(session, principal, organisation_pk, connection_id)
    row = await service.create(
        session, organisation_pk, connection.id, body.indicator, body.target_percent, body.window_days, now
    )
    return ObjectiveOut.of(row)


@router.get(CONNECTION_PATH + "/objectives/", response_model=list[ObjectiveOut])
async def list_connection_objectives(
    organisation_pk: OrganisationPk, connection_id: ConnectionId, session: ReadSession, principal: Reader
) -> list[ObjectiveOut]:
    """The objectives that apply: the connection's own, or else its organisation's defaults."""
    connection = await connections_service.get_visible(session, principal, organisation_pk, connection_id)
    return [
        ObjectiveOut.of(a.objective, inherited=a.inherited)
        for a in await service.applying(session, connection)
    ]


@router.get(CONNECTION_PATH + "/objectives/{objective_id}/", response_model=ObjectiveOut)
async def get_connection_objective(
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    objective_id: ObjectiveId,
    session: ReadSession,
    principal: Reader,
) -> ObjectiveOut:
    """One objective that applies to the connection."""
    connection = await connections_service.get_visible(session, principal, organisation_pk, connection_id)
    applied = await service.get_applying(session, connection, objective_id)
    return ObjectiveOut.of(applied.objective, inherited=applied.inherited)


@router.delete(CONNECTION_PATH + "/objectives/{objective_id}/", status_code=204)
async def delete_connection_objective(
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    objective_id: ObjectiveId,
    session: WriteSession,
    principal: Writer,
) -> Response:
    """Delete one of the connection's own objectives (an organisation default is deleted there)."""
    connection = await connections_service.get_visible(session, principal, organisation_pk, connection_id)
    await service.delete(
        session, await service.get_own(session, organisation_pk, connection.id, objective_id)
    )
    return Response(status_code=204)


@router.get(CONNECTION_PATH + "/objectives/{objective_id}/status/", response_model=ObjectiveStatusOut)
async def get_objective_status(
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    objective_id: ObjectiveId,
    session: ReadSession,
    principal: Reader,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """SLI, budget, spent and remaining, burn rates and projected exhaustion over the window ending now."""
    connection = await connections_service.get_visible(session, principal, organisation_pk, connection_id)
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
