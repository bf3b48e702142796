"""Prometheus metrics (per app instance, so tests can build many apps) and health probes."""

from __future__ import annotations

import hmac
import time
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Field
from sqlalchemy import func, select, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipepulse.auth.principals import UserPrincipal
from pipepulse.db.models import SchedulerHeartbeat
from pipepulse.db.session import Database
from pipepulse.errors import NotAuthenticated


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pipepulse_http_requests_total",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pipepulse_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.run_reports = Counter(
            "pipepulse_runs_reports_total",
            "Run writes from loaders by result.",
            ["result"],
            registry=self.registry,
        )


class MetricsMiddleware:
    """Counts requests by route template (never the raw path, which would explode labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    # The router leaves the matched route in the scope (routers carry their full prefix, so
    # its path is the whole template); unmatched requests (404s) have none.
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched")) if route is not None else "unmatched"


router = APIRouter(tags=["operations"])


@router.get("/healthz", include_in_schema=True)
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. No I/O."""
    return {"status": "ok"}


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str] = Field(description="Each check (database, scheduler) and its state.")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The database or the scheduler is not ready."}},
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers and a scheduler has ticked recently (when one is expected)."""
    db: Database = request.app.state.database
    settings = request.app.state.settings
    now = request.app.state.clock()
    checks: dict[str, str] = {}
    ready = True
    try:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            last_tick = await session.scalar(select(func.max(SchedulerHeartbeat.last_tick_at)))
    except Exception:
        return JSONResponse(
            {"status": "unavailable", "checks": {"database": "unreachable"}},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    checks["database"] = "ok"
    stale_after = timedelta(seconds=settings.scheduler_heartbeat_stale_seconds)
    if last_tick is None:
        checks["scheduler"] = "no heartbeat yet"
        ready = not request.app.state.require_scheduler
    elif now - last_tick > stale_after:
        checks["scheduler"] = f"stale: last tick {int((now - last_tick).total_seconds())}s ago"
        ready = False
    else:
        checks["scheduler"] = "ok"
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


# Scrapes closer together than this share one computation of the per-connection gauges.
HEALTH_CACHE_SECONDS = 15.0


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Process metrics; plus one health series per connection for a platform token or the
    metrics token (connection names and statuses are tenant data)."""
    from pipepulse.alerts import prometheus as alerts_prometheus
    from pipepulse.metrics.prometheus import connection_health
    from pipepulse.objectives import prometheus as objectives_prometheus

    metrics: Metrics = request.app.state.metrics
    exposition = generate_latest(metrics.registry)
    if not await _may_see_connections(request):
        return Response(exposition, media_type=CONTENT_TYPE_LATEST)
    cached: tuple[float, bytes] | None = getattr(request.app.state, "health_exposition", None)
    if cached is None or time.monotonic() - cached[0] > HEALTH_CACHE_SECONDS:
        db: Database = request.app.state.database
        async with db.session() as session:
            text_ = await connection_health(
                session, db, request.app.state.clock(), request.app.state.settings.thresholds
            )
            text_ += await alerts_prometheus.exposition(session, request.app.state.clock())
            text_ += await objectives_prometheus.exposition(
                session, request.app.state.clock(), request.app.state.settings.thresholds
            )
        cached = (time.monotonic(), text_)
        request.app.state.health_exposition = cached
    return Response(exposition + cached[1], media_type=CONTENT_TYPE_LATEST)


async def _may_see_connections(request: Request) -> bool:
    """No credential: process metrics only. A wrong one: 401 (and it counts as a failure)."""
    from pipepulse.auth.dependencies import authenticate, bearer_secret, client_address

    if "authorization" not in request.headers:
        return False
    secret = await bearer_secret(request, None)
    settings = request.app.state.settings
    if settings.metrics_token:
        request.app.state.auth_throttle.check(client_address(request), request.app.state.clock())
        if hmac.compare_digest(secret.encode(), settings.metrics_token.encode()):
            return True
    db: Database = request.app.state.database
    async with db.session() as session:
        principal = await authenticate(request, session, secret)
    if principal is None:
        raise NotAuthenticated("invalid or revoked token: use a platform token or PIPEPULSE_METRICS_TOKEN")
    return isinstance(principal, UserPrincipal) and principal.is_platform
