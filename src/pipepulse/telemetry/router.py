from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from pipepulse.auth import scopes
from pipepulse.auth.dependencies import Reader, authenticate, cached_principal, user_with_scope
from pipepulse.auth.principals import UserPrincipal
from pipepulse.config import Settings
from pipepulse.conventions.lean import LeanCall, resource_id, whole_id
from pipepulse.db.session import Database
from pipepulse.deps import AppSettings, Now, ReadSession, get_database
from pipepulse.errors import NotFound
from pipepulse.schemas import API_PREFIX, CONNECTION_PATH, ConnectionId, OrganisationPk
from pipepulse.snapshots import horizon
from pipepulse.telemetry import stored
from pipepulse.telemetry.schemas import Telemetry

router = APIRouter(prefix=API_PREFIX, tags=["telemetry"])


@router.get(
    CONNECTION_PATH + "/telemetry/",
    response_model=Telemetry,
    responses={304: {"description": "Not modified: `If-None-Match` names the current answer's `ETag`."}},
)
async def get_telemetry(
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    request: Request,
    session: ReadSession,
    principal: Reader,
    now: Now,
    settings: AppSettings,
    database: Annotated[Database, Depends(get_database)],
) -> Response:
    """Is this pipeline delivering, and how much? Status, volumes, failures, recent errors."""
    # The credential's read (on a cache miss) is over: the session's connection goes back to
    # the pool before the answer's read takes one.
    await session.commit()
    return await _answer(request, principal, organisation_pk, connection_id, now, settings, database)


async def lean_get_telemetry(call: LeanCall) -> Response | None:
    """``get_telemetry`` on the lean path (conventions/lean.py): one session, no dependencies."""
    organisation_pk = whole_id(call.params["organisation_pk"])
    connection_id = resource_id(call.params["connection_id"])
    if organisation_pk is None or connection_id is None:
        return None
    state = call.request.app.state
    database: Database = state.database
    # A credential the cache holds needs no session: an unchanged connection's answer is then
    # its one statement on a plain connection, without BEGIN and COMMIT.
    principal = cached_principal(call.request, call.secret)
    if principal is None:
        async with database.session(read_statements=True) as session:
            principal = await authenticate(call.request, session, call.secret)
    reader = user_with_scope(principal, scopes.READ_PIPELINE_METRICS)
    return await _answer(
        call.request, reader, organisation_pk, connection_id, state.clock(), state.settings, database
    )


async def _answer(
    request: Request,
    principal: UserPrincipal,
    organisation_pk: int,
    connection_id: str,
    now: datetime,
    settings: Settings,
    database: Database,
) -> Response:
    if not principal.can_see(organisation_pk):
        raise NotFound("warehouse connection not found")
    answer = await stored.telemetry(database, organisation_pk, connection_id, now, settings.thresholds)
    headers = {"ETag": answer.etag}
    if horizon.not_modified(request.headers.get("if-none-match"), answer.etag):
        return Response(status_code=304, headers=headers)
    # The stored bytes go out as they are: the model was built by us, validating it again is
    # pure cost on the hottest read. response_model still documents the shape.
    return Response(answer.body, media_type="application/json", headers=headers)
