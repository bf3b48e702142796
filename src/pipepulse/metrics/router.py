"""Per-connection metrics and bulk metrics (SPEC §4.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth import scopes
from pipepulse.auth.dependencies import Reader, authenticate, user_with_scope
from pipepulse.auth.principals import UserPrincipal
from pipepulse.config import Settings
from pipepulse.connections import service as connections_service
from pipepulse.connections.dependencies import VisibleConnection
from pipepulse.connections.repository import ConnectionRef
from pipepulse.conventions.lean import LeanCall, resource_id, whole_id
from pipepulse.db.session import Database
from pipepulse.deps import AppSettings, Now, ReadSession, get_database
from pipepulse.metrics import bulk
from pipepulse.metrics import service as metrics
from pipepulse.metrics.buckets import TimeUnit
from pipepulse.metrics.schemas import BulkAnswer, BulkBody, MetricsAnswer
from pipepulse.metrics.service import TimeType
from pipepulse.metrics.values import METADATA
from pipepulse.rules import Status
from pipepulse.schemas import (
    API_PREFIX,
    CONNECTION_PATH,
    Timestamp,
    format_timestamp,
)

router = APIRouter(prefix=API_PREFIX, tags=["telemetry"])

Interval = Annotated[int, Query(ge=1, le=10_000, description="Buckets are time_interval times time_unit.")]
From = Annotated[
    Timestamp | None,
    Query(description="Start (inclusive), ISO 8601 with offset; default 24h before the end."),
]
To = Annotated[Timestamp | None, Query(description="End (exclusive), ISO 8601 with offset; default now.")]


@router.get(CONNECTION_PATH + "/telemetry/metrics/", response_model=MetricsAnswer)
async def get_connection_metrics(
    connection: VisibleConnection,
    session: ReadSession,
    now: Now,
    settings: AppSettings,
    time_type: TimeType = "latest",
    time_interval: Interval = 1,
    time_unit: TimeUnit = "hour",
    timestamp_from: From = None,
    timestamp_to: To = None,
) -> Response:
    """One pipeline's metrics: latest values, a UTC-aligned time series, or a summary of a range."""
    return await _connection_metrics(
        session,
        ConnectionRef.of(connection),
        now,
        settings,
        time_type=time_type,
        time_interval=time_interval,
        time_unit=time_unit,
        timestamp_from=timestamp_from,
        timestamp_to=timestamp_to,
    )


# The query parameters the lean handler reads (the lean route validates them as declared).
LEAN_QUERY = frozenset({"time_type", "time_interval", "time_unit", "timestamp_from", "timestamp_to"})


async def lean_get_connection_metrics(call: LeanCall) -> Response | None:
    """``get_connection_metrics`` on the lean path (conventions/lean.py): one session, no
    dependencies, the connection read as one row."""
    organisation_pk = whole_id(call.params["organisation_pk"])
    connection_id = resource_id(call.params["connection_id"])
    if organisation_pk is None or connection_id is None:
        return None
    state = call.request.app.state
    database: Database = state.database
    # Several statements: at READ COMMITTED a transaction would give them no common snapshot
    # on PostgreSQL either, so none is opened there; SQLite reads as the declared route does.
    async with database.session(read_statements=True) as session:
        principal = await authenticate(call.request, session, call.secret)
        reader = user_with_scope(principal, scopes.READ_PIPELINE_METRICS)
        connection = await connections_service.get_visible_ref(
            session, reader, organisation_pk, connection_id
        )
        return await _connection_metrics(session, connection, state.clock(), state.settings, **call.query)


async def _connection_metrics(
    session: AsyncSession,
    connection: ConnectionRef,
    now: datetime,
    settings: Settings,
    *,
    time_type: TimeType = "latest",
    time_interval: int = 1,
    time_unit: TimeUnit = "hour",
    timestamp_from: datetime | None = None,
    timestamp_to: datetime | None = None,
) -> Response:
    query, bucket_list = metrics.resolve(
        time_type=time_type,
        time_interval=time_interval,
        time_unit=time_unit,
        timestamp_from=timestamp_from,
        timestamp_to=timestamp_to,
        now=now,
    )
    data = await metrics.connection_metrics(session, connection, query, bucket_list, now, settings.thresholds)
    counted_from, counted_to, precision = metrics.answered(query, now, settings.thresholds)
    # Plain JSON: a long series validated again against the response model would cost more
    # than computing it; the model still documents the shape in OpenAPI.
    return _json(
        {
            "data": data,
            "metadata": METADATA,
            "time_type": query.time_type,
            "time_interval": query.time_interval,
            "time_unit": query.time_unit,
            "timestamp_from": format_timestamp(query.timestamp_from),
            "timestamp_to": format_timestamp(query.timestamp_to),
            "as_of": format_timestamp(now),
            "precision": precision,
            "counted_from": format_timestamp(counted_from),
            "counted_to": format_timestamp(counted_to),
        }
    )


def _json(body: dict[str, Any]) -> Response:
    """Serialised in one pass by pydantic-core: timestamps come out as ISO 8601 UTC with Z,
    exactly as format_timestamp writes them (every time here is UTC)."""
    return Response(to_json(body), media_type="application/json")


BulkTimeType = Literal["latest", "timesummary"]
SortKey = Annotated[
    str,
    Query(
        description="'name', 'id' or a scalar metric; status sorts by severity.",
        json_schema_extra={"enum": list(bulk.SORT_KEYS)},
    ),
]


@dataclass(frozen=True)
class BulkParams:
    """The query parameters GET and POST share (FastAPI reads each field from the query)."""

    ids: Annotated[str | None, Query(description="Comma-separated connection ids.")] = None
    id: Annotated[str | None, Query(description="One connection id (added to 'ids').")] = None
    tenant_ids: Annotated[str | None, Query(description="Comma-separated organisation ids.")] = None
    time_type: BulkTimeType = "latest"
    time_interval: Interval = 1
    time_unit: TimeUnit = "hour"
    timestamp_from: From = None
    timestamp_to: To = None
    page: Annotated[int, Query(ge=1, description="1-based; ignored when 'from' is given.")] = 1
    size: Annotated[int, Query(ge=1, le=500)] = 50
    cursor: Annotated[
        str | None, Query(alias="from", description="Opaque cursor: a previous next_cursor.")
    ] = None
    sort: SortKey = "name"
    sort_dir: bulk.SortDir = "asc"
    status: Status | None = None


Params = Annotated[BulkParams, Depends()]
# Stored answers are written in a short transaction of their own (see pipepulse.metrics.stored).
Db = Annotated[Database, Depends(get_database)]


def _wanted_ids(ids: str | list[str] | None, one: str | None) -> list[str] | None:
    wanted = bulk.parse_ids(ids)
    if one is None:
        return wanted
    return list(dict.fromkeys([*(wanted or []), *(bulk.parse_ids([one]) or [])]))


async def _bulk(
    session: ReadSession,
    database: Database,
    principal: UserPrincipal,
    now: Now,
    settings: AppSettings,
    params: BulkParams,
    *,
    ids: str | list[str] | None,
    tenant_ids: str | list[int] | None,
) -> Response:
    query, _ = metrics.resolve(
        time_type=params.time_type,
        time_interval=params.time_interval,
        time_unit=params.time_unit,
        timestamp_from=params.timestamp_from,
        timestamp_to=params.timestamp_to,
        now=now,
    )
    answer = await bulk.bulk_metrics(
        session,
        database,
        principal,
        bulk.BulkQuery(
            metrics=query,
            ids=_wanted_ids(ids, params.id),
            tenant_ids=bulk.parse_tenant_ids(tenant_ids),
            page=params.page,
            size=params.size,
            cursor=params.cursor,
            sort=params.sort,
            sort_dir=params.sort_dir,
            status=params.status,
        ),
        now,
        settings.thresholds,
    )
    counted_from, counted_to, precision = metrics.answered(query, now, settings.thresholds)
    # Built as plain JSON: validating up to 500 result items again costs more than computing them.
    return _json(
        {
            "result": answer.result,
            "metadata": METADATA,
            "page": answer.page,
            "size": answer.size,
            "total": answer.total,
            "has_next": answer.has_next,
            "next_cursor": answer.next_cursor,
            "time_type": query.time_type,
            "timestamp_from": format_timestamp(query.timestamp_from),
            "timestamp_to": format_timestamp(query.timestamp_to),
            "as_of": format_timestamp(now),
            "precision": precision,
            "counted_from": format_timestamp(counted_from),
            "counted_to": format_timestamp(counted_to),
        }
    )


@router.get("/telemetry/metrics/", response_model=BulkAnswer)
async def get_bulk_metrics(
    session: ReadSession, database: Db, principal: Reader, now: Now, settings: AppSettings, params: Params
) -> Response:
    """Metrics of many pipelines at once, filtered, sorted and paged."""
    return await _bulk(
        session, database, principal, now, settings, params, ids=params.ids, tenant_ids=params.tenant_ids
    )


@router.post("/telemetry/metrics/", response_model=BulkAnswer)
async def post_bulk_metrics(
    session: ReadSession,
    database: Db,
    principal: Reader,
    now: Now,
    settings: AppSettings,
    params: Params,
    body: Annotated[BulkBody | None, Body()] = None,
) -> Response:
    """The same as GET, for id lists too long for a URL: ids in the body win over the query."""
    ids = body.ids if body is not None and body.ids is not None else params.ids
    tenants = body.tenant_ids if body is not None and body.tenant_ids is not None else params.tenant_ids
    return await _bulk(session, database, principal, now, settings, params, ids=ids, tenant_ids=tenants)
