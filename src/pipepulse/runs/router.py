"""The run ("metrics row") endpoints: loaders write with a service key, users read."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth.dependencies import Service, authenticate, service_key, service_principal
from pipepulse.auth.principals import ServicePrincipal
from pipepulse.connections import service as connections_service
from pipepulse.connections.dependencies import VisibleConnection
from pipepulse.conventions.lean import LeanCall, resource_id, whole_id
from pipepulse.db.session import Database
from pipepulse.deps import AppSettings, Now, ReadSession, StatementSession, WriteSession, statement_session
from pipepulse.errors import AppError, Invalid, NotFound
from pipepulse.rules import Outcome
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import (
    MAX_BATCH_REPORTS,
    BatchReportItem,
    BatchReportResults,
    RunCreate,
    RunOut,
    RunReport,
)
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
# Reports run on a session of single statements; the key is looked up on the same one.
Reporter = Annotated[ServicePrincipal, Depends(service_key(statement_session))]
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
    key: Service,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """Seed a pending run, or push a finished one in one call (service key)."""
    _check_writes(key, organisation_pk)
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
    session: StatementSession,
    key: Reporter,
    now: Now,
) -> Response:
    """Report a run's completion (service key). Identical repeats are no-ops."""
    return await _report_one(
        session, key, runs_service.Report(0, organisation_pk, connection_id, run_id, body), now
    )


# Built once: the validator FastAPI would run on the body (the same model, the same mode).
_REPORT = TypeAdapter(RunReport)


async def lean_report_run(call: LeanCall) -> Response | None:
    """``report_run`` on the lean path (conventions/lean.py): one session, no dependencies."""
    organisation_pk = whole_id(call.params["organisation_pk"])
    connection_id = resource_id(call.params["connection_id"])
    run_id = resource_id(call.params["run_id"])
    if organisation_pk is None or connection_id is None or run_id is None:
        return None
    try:
        body = _REPORT.validate_python(call.body, from_attributes=True)
    except ValidationError:
        return None  # the declared route's 422 (after its 401 or 403, if any)
    state = call.request.app.state
    database: Database = state.database
    async with database.session(statements=True) as session:
        key = service_principal(await authenticate(call.request, session, call.secret))
        report = runs_service.Report(0, organisation_pk, connection_id, run_id, body)
        return await _report_one(session, key, report, state.clock())


async def _report_one(
    session: AsyncSession, key: ServicePrincipal, report: runs_service.Report, now: datetime
) -> Response:
    _check_writes(key, report.organisation_id)
    await runs_service.report(session, report, now)
    return Response(status_code=204)


_ITEMS = TypeAdapter(list[BatchReportItem])
_ITEM = TypeAdapter(BatchReportItem)
_BATCH_BODY = {
    "content": {
        "application/json": {
            "schema": {"type": "array", "maxItems": MAX_BATCH_REPORTS, "items": _ITEM.json_schema()}
        }
    }
}


@router.post(
    "/runs/reports/",
    response_model=BatchReportResults,
    openapi_extra={"requestBody": _BATCH_BODY},
)
async def report_runs(
    items: Annotated[
        list[Any],
        Body(
            max_length=MAX_BATCH_REPORTS,
            description="Reports of runs of any connections, each judged on its own.",
        ),
    ],
    session: StatementSession,
    key: Reporter,
    now: Now,
) -> Response:
    """Report up to 1,000 runs at once (service key): one result per item, in order."""
    return await _report_batch(session, key, items, now)


async def lean_report_runs(call: LeanCall) -> Response | None:
    """``report_runs`` on the lean path (conventions/lean.py): one session, no dependencies."""
    items = call.body
    if not isinstance(items, list) or len(items) > MAX_BATCH_REPORTS:
        return None  # the declared route's 422
    state = call.request.app.state
    database: Database = state.database
    async with database.session(statements=True) as session:
        key = service_principal(await authenticate(call.request, session, call.secret))
        return await _report_batch(session, key, items, state.clock())


async def _report_batch(
    session: AsyncSession, key: ServicePrincipal, items: list[Any], now: datetime
) -> Response:
    results: list[dict[str, Any] | None] = [None] * len(items)
    to_apply: list[runs_service.Report] = []
    try:
        valid = list(enumerate(_ITEMS.validate_python(items)))
    except ValidationError:
        # Some item is malformed: find which, one by one (the rest still count).
        valid = []
        for index, raw in enumerate(items):
            try:
                valid.append((index, _ITEM.validate_python(raw)))
            except ValidationError as exc:
                errors = [
                    {"loc": ["body", index, *e["loc"]], "msg": e["msg"], "type": e["type"]}
                    for e in exc.errors()
                ]
                results[index] = {"index": index, "status": 422, "detail": errors}
    for index, item in valid:
        if not key.can_write(item.organisation_id):
            # Another organisation's connection: exactly as if it did not exist.
            results[index] = {"index": index, "status": 404, "detail": CONNECTION_NOT_FOUND}
            continue
        to_apply.append(
            runs_service.Report(index, item.organisation_id, item.connection_id, item.run_id, item)
        )
    for verdict in await runs_service.report_all(session, to_apply, now):
        results[verdict.index] = _result(verdict.index, verdict.error)
    return Response(json.dumps({"results": results}), media_type="application/json")


CONNECTION_NOT_FOUND = "warehouse connection not found"


def _check_writes(key: ServicePrincipal, organisation_pk: int) -> None:
    """A key bound to one organisation sees no other's connections (SPEC §9)."""
    if not key.can_write(organisation_pk):
        raise NotFound(CONNECTION_NOT_FOUND)


def _result(index: int, error: AppError | None) -> dict[str, Any]:
    if error is None:
        return {"index": index, "status": 204}
    if isinstance(error, Invalid):
        loc = ["body", index, *error.loc[1:]]
        detail = [{"loc": loc, "msg": error.detail, "type": "value_error"}]
        return {"index": index, "status": 422, "detail": detail}
    return {"index": index, "status": error.status_code, "detail": error.detail}


@router.get(RUNS_PATH, response_model=Page[RunOut])
async def list_runs(
    connection: VisibleConnection,
    session: ReadSession,
    now: Now,
    settings: AppSettings,
    page: PageNumber = 1,
    size: PageSize = 50,
    outcome: Outcome | None = None,
) -> Page[RunOut]:
    """List the connection's runs, newest first, optionally by outcome."""
    rows, total = await runs_service.list_page(
        session,
        connection,
        offset=(page - 1) * size,
        limit=size,
        outcome=outcome,
        now=now,
        thresholds=settings.thresholds,
    )
    return Page.of(
        [runs_service.to_out(r, now, settings.thresholds) for r in rows], page=page, size=size, total=total
    )


@router.get(RUNS_PATH + "{run_id}/", response_model=RunOut)
async def get_run(
    # Declared here too so that OpenAPI lists the path's parameters in the path's order.
    organisation_pk: OrganisationPk,  # noqa: ARG001
    connection_id: ConnectionId,  # noqa: ARG001
    run_id: RunId,
    connection: VisibleConnection,
    session: ReadSession,
    now: Now,
    settings: AppSettings,
) -> RunOut:
    """Read one run with its outcome."""
    run = await runs_service.get(
        session, connection, run_id, now=now, retention=settings.thresholds.run_retention
    )
    return runs_service.to_out(run, now, settings.thresholds)
