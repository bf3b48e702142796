from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from pipepulse.auth.dependencies import Reader
from pipepulse.db.session import Database
from pipepulse.deps import AppSettings, Now, ReadSession, get_database
from pipepulse.errors import NotFound
from pipepulse.schemas import API_PREFIX, CONNECTION_PATH, ConnectionId, OrganisationPk
from pipepulse.snapshots import horizon
from pipepulse.snapshots import service as snapshots_service
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
    if not principal.can_see(organisation_pk):
        raise NotFound("warehouse connection not found")
    answer = await snapshots_service.telemetry(
        session, database, organisation_pk, connection_id, now, settings.thresholds
    )
    headers = {"ETag": answer.etag}
    if horizon.not_modified(request.headers.get("if-none-match"), answer.etag):
        return Response(status_code=304, headers=headers)
    # The stored bytes go out as they are: the model was built by us, validating it again is
    # pure cost on the hottest read. response_model still documents the shape.
    return Response(answer.body, media_type="application/json", headers=headers)
