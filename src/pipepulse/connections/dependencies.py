"""FastAPI dependencies for routes under one connection: the connection the caller may see.

A route that takes ``VisibleConnection`` (or ``WritableConnection``, or one made by
:func:`connection_for`) gets the connection of its path, looked up once against the
principal's organisations. Dependencies are solved before the route's own query parameters
and body are validated, so the order of refusals is the one docs/api.md ("Which error comes
first") promises: 401, then 403 for a missing scope, then 404 for a connection that is unknown
or another organisation's, and only then 422 for bad parameters or a bad body.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth import scopes
from pipepulse.auth.dependencies import reader, user
from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections import service as connections_service
from pipepulse.db.models import WarehouseConnection
from pipepulse.deps import read_session, write_session
from pipepulse.schemas import ConnectionId, OrganisationPk

# The principal changing a connection itself (create, change, delete).
connection_writer = user(scopes.WRITE_CONNECTIONS, write=True)


def connection_for(
    principal: Callable[..., Awaitable[UserPrincipal]], *, write: bool = False
) -> Callable[..., Awaitable[WarehouseConnection]]:
    """Dependency: the path's connection when ``principal``'s organisations include its own;
    404 ("warehouse connection not found") otherwise. ``principal`` is the route's own principal
    dependency, so the token is read once; the session is the route's (write or read)."""
    session_dependency: Callable[..., AsyncIterator[AsyncSession]] = write_session if write else read_session

    async def dependency(
        organisation_pk: OrganisationPk,
        connection_id: ConnectionId,
        found: Annotated[UserPrincipal, Depends(principal)],
        session: Annotated[AsyncSession, Depends(session_dependency, scope="function")],
    ) -> WarehouseConnection:
        return await connections_service.get_visible(session, found, organisation_pk, connection_id)

    return dependency


# A connection the token may read (scope read:pipeline_metrics).
VisibleConnection = Annotated[WarehouseConnection, Depends(connection_for(reader))]
# A connection the token may change (scope write:connections), on the write session.
WritableConnection = Annotated[WarehouseConnection, Depends(connection_for(connection_writer, write=True))]
