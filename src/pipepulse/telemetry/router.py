from __future__ import annotations

from fastapi import APIRouter, Response

from pipepulse.auth.dependencies import Reader
from pipepulse.connections import service as connections_service
from pipepulse.deps import AppSettings, Now, ReadSession
from pipepulse.schemas import API_PREFIX, CONNECTION_PATH, ConnectionId, OrganisationPk
from pipepulse.telemetry import service as telemetry_service
from pipepulse.telemetry.schemas import Telemetry

router = APIRouter(prefix=API_PREFIX, tags=["telemetry"])


@router.get(CONNECTION_PATH + "/telemetry/", response_model=Telemetry)
async def get_telemetry(
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    session: ReadSession,
    principal: Reader,
    now: Now,
    settings: AppSettings,
) -> Response:
    """Is this pipeline delivering, and how much? Status, volumes, failures, recent errors."""
    connection = await connections_service.get_visible(session, principal, organisation_pk, connection_id)
    answer = await telemetry_service.telemetry(session, connection, now, settings.thresholds)
    # Serialised directly: the model was built by us, validating it again is pure cost on the
    # hottest read. response_model still documents the shape.
    return Response(answer.model_dump_json(), media_type="application/json")
