"""Status history and connection health now (SPEC §7.1, §7.2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from pipepulse.connections.dependencies import VisibleConnection
from pipepulse.deps import AppSettings, Now, ReadSession
from pipepulse.history import service
from pipepulse.history.schemas import ConnectionHealthOut, StatusHistoryOut
from pipepulse.schemas import API_PREFIX, CONNECTION_PATH, Timestamp

router = APIRouter(prefix=API_PREFIX, tags=["watching"])

From = Annotated[
    Timestamp | None,
    Query(alias="from", description="Start (inclusive), ISO 8601 with offset; default 7 days before 'to'."),
]
To = Annotated[Timestamp | None, Query(description="End (exclusive), at most now; default now.")]


@router.get(CONNECTION_PATH + "/status-history/", response_model=StatusHistoryOut)
async def get_status_history(
    connection: VisibleConnection,
    session: ReadSession,
    now: Now,
    settings: AppSettings,
    start: From = None,
    to: To = None,
) -> JSONResponse:
    """The status timeline over [from, to) (at most 90 days), its incidents, uptime and MTTR."""
    start, end = service.resolve_range(start, to, now, settings.thresholds)
    history = await service.status_history(session, connection, start, end, now, settings.thresholds)
    return JSONResponse(StatusHistoryOut.of(history).model_dump(mode="json", by_alias=True))


@router.get(CONNECTION_PATH + "/health/", response_model=ConnectionHealthOut)
async def get_connection_health(
    connection: VisibleConnection,
    session: ReadSession,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """Health now: status, reason and since when, the open incident, freshness and volume."""
    health = await service.health(session, connection, now, settings.thresholds)
    return JSONResponse(ConnectionHealthOut.of(health).model_dump(mode="json"))
