from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from pipepulse.auth.dependencies import Reader
from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections import service as connections_service
from pipepulse.connections.dependencies import VisibleConnection, WritableConnection, connection_writer
from pipepulse.connections.schemas import (
    ConnectionCreate,
    ConnectionOut,
    ConnectionState,
    ConnectionUpdate,
    IntegrationType,
)
from pipepulse.deps import Now, ReadSession, WriteSession
from pipepulse.schemas import (
    API_PREFIX,
    CONNECTION_PATH,
    CONNECTIONS_PATH,
    OrganisationPk,
    Page,
    PageNumber,
    PageSize,
)

router = APIRouter(prefix=API_PREFIX, tags=["warehouse connections"])
Writer = Annotated[UserPrincipal, Depends(connection_writer)]


@router.get(CONNECTIONS_PATH + "/", response_model=Page[ConnectionOut])
async def list_connections(
    organisation_pk: OrganisationPk,
    session: ReadSession,
    principal: Reader,
    page: PageNumber = 1,
    size: PageSize = 50,
    state: ConnectionState | None = None,
    integration_type: IntegrationType | None = None,
) -> Page[ConnectionOut]:
    """List the organisation's warehouse connections, newest first."""
    rows, total = await connections_service.list_page(
        session,
        principal,
        organisation_pk,
        offset=(page - 1) * size,
        limit=size,
        state=state,
        integration_type=integration_type,
    )
    return Page.of([ConnectionOut.model_validate(r) for r in rows], page=page, size=size, total=total)


@router.post(CONNECTIONS_PATH + "/", response_model=ConnectionOut, status_code=201)
async def create_connection(
    organisation_pk: OrganisationPk,
    body: ConnectionCreate,
    session: WriteSession,
    principal: Writer,
    now: Now,
) -> ConnectionOut:
    """Create a warehouse connection."""
    connection = await connections_service.create(session, principal, organisation_pk, body, now)
    return ConnectionOut.model_validate(connection)


@router.get(CONNECTION_PATH + "/", response_model=ConnectionOut)
async def get_connection(
    connection: VisibleConnection,
) -> ConnectionOut:
    """Read one warehouse connection."""
    return ConnectionOut.model_validate(connection)


@router.patch(CONNECTION_PATH + "/", response_model=ConnectionOut)
async def update_connection(
    connection: WritableConnection,
    body: ConnectionUpdate,
    session: WriteSession,
    now: Now,
) -> ConnectionOut:
    """Change a connection's name, config, state, event types or schedule (not its type)."""
    connection = await connections_service.update(session, connection, body, now)
    return ConnectionOut.model_validate(connection)


@router.delete(CONNECTION_PATH + "/", status_code=204)
async def delete_connection(
    connection: WritableConnection,
    session: WriteSession,
) -> Response:
    """Delete a connection and all of its runs."""
    await connections_service.remove(session, connection)
    return Response(status_code=204)
