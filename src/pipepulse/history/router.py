"""Status history and connection health now (SPEC §7.1, §7.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth import scopes
from pipepulse.auth.dependencies import authenticate, user_with_scope
from pipepulse.config import Settings
from pipepulse.connections import service as connections_service
from pipepulse.connections.dependencies import VisibleConnection
from pipepulse.conventions.lean import LeanCall, resource_id, whole_id
from pipepulse.db.session import Database
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
    return await _status_history(session, connection, start, to, now, settings)


async def lean_get_status_history(call: LeanCall) -> JSONResponse | None:
    """``get_status_history`` on the lean path (conventions/lean.py): one session, no
    dependencies, the connection's state read as one column."""
    organisation_pk = whole_id(call.params["organisation_pk"])
    connection_id = resource_id(call.params["connection_id"])
    if organisation_pk is None or connection_id is None:
        return None
    state = call.request.app.state
    database: Database = state.database
    # The history is several statements (the first run, the change points, the last delivery,
    # the runs around each interval's start, the streaks). They never shared one snapshot on
    # PostgreSQL: at READ COMMITTED each statement in the declared route's transaction takes
    # its own, so BEGIN and COMMIT are two round trips that change nothing there. On SQLite
    # this is the declared route's read transaction (one snapshot), as before.
    async with database.session(read_statements=True) as session:
        principal = await authenticate(call.request, session, call.secret)
        reader = user_with_scope(principal, scopes.READ_PIPELINE_METRICS)
        connection = await connections_service.get_visible_state(
            session, reader, organisation_pk, connection_id
        )
        start, to = call.query.get("from"), call.query.get("to")  # validated by the lean route
        return await _status_history(session, connection, start, to, state.clock(), state.settings)


async def _status_history(
    session: AsyncSession,
    connection: service.Watched,
    start: datetime | None,
    to: datetime | None,
    now: datetime,
    settings: Settings,
) -> JSONResponse:
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
