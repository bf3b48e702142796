"""The run ("metrics row") endpoints: loaders write with a service key, users read."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from pipepulse.auth.dependencies import Reader, Service
from pipepulse.connections import service as connections_service
from pipepulse.deps import AppSettings, Now, ReadSession, WriteSession
from pipepulse.rules import Outcome
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import RunCreate, RunOut, RunReport
from pipepulse.schemas import (
    API_PREFIX,
    CONNECTION_PATH,
    ConnectionId,
    OrganisationPk,
    Page,
    PageNumber,
    PageSize,
    RunId,
)

router = APIRouter(prefix=API_PREFIX, tags=["runs"])
RUNS_PATH = CONNECTION_PATH + "/metrics/"


@router.post(
    RUNS_PATH,
    response_model=RunOut,
    status_code=201,
    responses={
        200: {"model": RunOut, "description": "An identical repeat: the existing run."},
        409: {"description": "The run_id exists with a different body."},
    },
)
async def create_run(
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    body: RunCreate,
    session: WriteSession,
    _key: Service,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """Seed a pending run, or push a finished one in one call (service key)."""
    connection = await connections_service.get(session, organisation_pk, connection_id)
    run, created = await runs_service.create(session, connection, body, now)
    out = runs_service.to_out(run, now, settings.thresholds)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.patch(
    RUNS_PATH + "{run_id}/",
    status_code=204,
    responses={409: {"description": "The run is completed with a different report; nothing changed."}},
)
async def report_run(
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    run_id: RunId,
    body: RunReport,
    session: WriteSession,
    _key: Service,
    now: Now,
) -> Response:
    """Report a run's completion (service key). Identical repeats are no-ops."""
    connection = await connections_service.get(session, organisation_pk, connection_id)
    await runs_service.report(session, connection, run_id, body, now)
    return Response(status_code=204)


@router.get(RUNS_PATH, response_model=Page[RunOut])
async def list_runs(
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    session: ReadSession,
    principal: Reader,
    now: Now,
    settings: AppSettings,
    page: PageNumber = 1,
    size: PageSize = 50,
    outcome: Outcome | None = None,
) -> Page[RunOut]:
    """List the connection's runs, newest first, optionally by outcome."""
    connection = await connections_service.get_visible(session, principal, organisation_pk, connection_id)
    rows, total = await runs_service.list_page(
        session,
        connection,
        offset=(page - 1) * size,
        limit=size,
        outcome=outcome,
        now=now,
        thresholds=settings.thresholds,
    )
    return Page(
        items=[runs_service.to_out(r, now, settings.thresholds) for r in rows],
        page=page,
        size=size,
        total=total,
        has_next=page * size < total,
    )


@router.get(RUNS_PATH + "{run_id}/", response_model=RunOut)
async def get_run(
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    run_id: RunId,
    session: ReadSession,
    principal: Reader,
    now: Now,
    settings: AppSettings,
) -> RunOut:
    """Read one run with its outcome."""
    connection = await connections_service.get_visible(session, principal, organisation_pk, connection_id)
    run = await runs_service.get(
        session, connection, run_id, now=now, retention=settings.thresholds.run_retention
    )
    return runs_service.to_out(run, now, settings.thresholds)
