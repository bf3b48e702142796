"""OpenLineage endpoints (SPEC §9): where the OpenLineage HTTP transport posts run events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pipepulse.auth.dependencies import Service
from pipepulse.deps import AppSettings, Now, WriteSession
from pipepulse.errors import AppError, Invalid
from pipepulse.lineage import body, events
from pipepulse.lineage import service as lineage_service
from pipepulse.lineage.schemas import MAX_BATCH_EVENTS, LineageBatchResults, LineageResult
from pipepulse.schemas import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["lineage"])

_EVENT_BODY = {
    "required": True,
    "description": "An OpenLineage RunEvent (https://openlineage.io/spec/2-0-2/OpenLineage.json); "
    "Content-Encoding: gzip accepted.",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
_BATCH_BODY = {
    "required": True,
    "description": "A JSON list of OpenLineage RunEvents; Content-Encoding: gzip accepted.",
    "content": {
        "application/json": {
            "schema": {"type": "array", "maxItems": MAX_BATCH_EVENTS, "items": {"type": "object"}}
        }
    },
}


async def _read(request: Request, settings: AppSettings) -> Any:
    raw = await request.body()
    return body.decode(
        raw,
        content_type=request.headers.get("content-type", ""),
        content_encoding=request.headers.get("content-encoding", ""),
        limit=settings.max_body_bytes,
    )


def _dump(applied: lineage_service.Applied) -> dict[str, Any]:
    return LineageResult(
        event_type=applied.event_type,
        run_id=applied.run_id,
        connection_id=applied.connection_id,
        changed=applied.changed,
    ).model_dump(mode="json")


@router.post(
    "/lineage",
    status_code=201,
    response_model=LineageResult,
    openapi_extra={"requestBody": _EVENT_BODY},
    responses={
        200: {"model": LineageResult, "description": "A repeat, or RUNNING / OTHER: nothing changed."},
        409: {"description": "A terminal event that contradicts the stored one; nothing changed."},
        413: {"description": "The body, or what it inflates to, is too large."},
        415: {"description": "Not application/json, or an unsupported Content-Encoding."},
    },
)
async def post_lineage(
    request: Request, session: WriteSession, key: Service, now: Now, settings: AppSettings
) -> JSONResponse:
    """Apply one OpenLineage run event (service key bound to an organisation)."""
    lineage_service.organisation_of(key)
    event = events.parse(await _read(request, settings))
    applied = await lineage_service.apply(session, key, event, now)
    return JSONResponse(_dump(applied), status_code=applied.status)


@router.post(
    "/lineage/batch",
    response_model=LineageBatchResults,
    openapi_extra={"requestBody": _BATCH_BODY},
    responses={
        413: {"description": "The body, or what it inflates to, is too large."},
        415: {"description": "Not application/json, or an unsupported Content-Encoding."},
    },
)
async def post_lineage_batch(
    request: Request, session: WriteSession, key: Service, now: Now, settings: AppSettings
) -> JSONResponse:
    """Apply up to 1,000 run events: one result per event, in order, each judged on its own."""
    lineage_service.organisation_of(key)
    items = await _read(request, settings)
    if not isinstance(items, list):
        raise Invalid("the batch body must be a JSON list of OpenLineage run events")
    if len(items) > MAX_BATCH_EVENTS:
        raise Invalid(f"at most {MAX_BATCH_EVENTS} events per batch (got {len(items)})")
    results: list[dict[str, Any]] = []
    for index, raw in enumerate(items):
        try:
            event = events.parse(raw)
            # Each event on its own savepoint: one refused writes nothing, the others stand.
            async with session.begin_nested():
                applied = await lineage_service.apply(session, key, event, now)
        except Invalid as exc:
            loc = ["body", index, *exc.loc[1:]]
            detail = [{"loc": loc, "msg": exc.detail, "type": "value_error"}]
            results.append({"index": index, "status": 422, "detail": detail})
            continue
        except AppError as exc:
            results.append({"index": index, "status": exc.status_code, "detail": exc.detail})
            continue
        results.append({"index": index, "status": applied.status, "result": _dump(applied)})
    return JSONResponse({"results": results})
