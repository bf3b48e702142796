"""The application factory: the only place resources are created."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from pipepulse import __version__, conventions
from pipepulse.alerts import groups_router as alert_groups_router
from pipepulse.alerts import platform_router as platform_alerts_router
from pipepulse.alerts import router as alerts_router
from pipepulse.alerts import silences_router as alert_silences_router
from pipepulse.auth.cache import PrincipalCache
from pipepulse.auth.throttle import AuthThrottle
from pipepulse.clock import utc_now
from pipepulse.config import Settings
from pipepulse.connections import router as connections_router
from pipepulse.conventions import lean
from pipepulse.dashboard import router as dashboard_router
from pipepulse.db.engine import create_engine
from pipepulse.db.migrate import ensure_schema
from pipepulse.db.session import Database
from pipepulse.delivery import send_limit
from pipepulse.delivery.channels import keys as channel_keys
from pipepulse.deps import Clock
from pipepulse.errors import install_handlers
from pipepulse.health import router as health_router
from pipepulse.health.closed_hours import ClosedHours
from pipepulse.history import router as watch_router
from pipepulse.lineage import router as lineage_router
from pipepulse.metrics import router as metrics_router
from pipepulse.objectives import router as objectives_router
from pipepulse.observability import Metrics, MetricsMiddleware
from pipepulse.observability import router as ops_router
from pipepulse.organisations import router as organisations_router
from pipepulse.redaction import install_log_redaction
from pipepulse.runs import router as runs_router
from pipepulse.telemetry import router as telemetry_router

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = utc_now,
    database: Database | None = None,
    require_scheduler: bool = False,
) -> FastAPI:
    """Build the app. Pass ``database`` to share an engine (tests); otherwise the lifespan makes one."""
    settings = settings or Settings()
    metrics = Metrics()
    install_log_redaction()
    channel_keys.install(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        db = database or Database(
            create_engine(
                settings.resolved_database_url,
                pool_size=settings.db_pool_size,
                connect_timeout_s=settings.db_connect_timeout_seconds,
                pool_timeout_s=settings.db_pool_timeout_seconds,
            )
        )
        try:
            if owned:
                await ensure_schema(db, auto_migrate=settings.auto_migrate)
                # The ≈ 200,000 objects of a started server (modules, models, routes, compiled
                # statements) live as long as it does: frozen, the collector's full passes stop
                # walking them on every request's garbage. Unfrozen, a full pass came every
                # second under load and paused a request by 25-100 ms: the tail of every read.
                gc.collect()
                gc.freeze()
            app.state.database = db
            yield
        finally:
            if owned:
                await db.dispose()

    app = FastAPI(
        title="pipepulse",
        version=__version__,
        summary="Health telemetry for data-delivery pipelines.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # served from local assets by conventions.docs
        redoc_url=None,
        redirect_slashes=False,  # both forms are served (conventions.slashes)
        dependencies=conventions.dependencies(),
        generate_unique_id_function=conventions.operation_id,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.principals = PrincipalCache(timedelta(seconds=settings.auth_cache_seconds))
    app.state.closed_hours = ClosedHours()
    app.state.clock = clock
    app.state.metrics = metrics
    app.state.require_scheduler = require_scheduler
    app.state.auth_throttle = AuthThrottle(settings.auth_failures_per_minute)
    app.state.test_send_limit = send_limit.TestSendLimit(settings.alerts_test_sends_per_minute)
    if database is not None:
        app.state.database = database

    for module in (
        organisations_router,
        connections_router,
        runs_router,
        lineage_router,
        telemetry_router,
        metrics_router,
        health_router,
        watch_router,
        alerts_router,
        alert_groups_router,
        alert_silences_router,
        platform_alerts_router,
        objectives_router,
    ):
        app.include_router(module.router)
    app.include_router(ops_router)
    app.include_router(dashboard_router.router)
    # The hottest operations' ordinary requests skip dependency resolution (same answers).
    lean.install(app, telemetry_router.router, {"get_telemetry": telemetry_router.lean_get_telemetry})
    lean.install(
        app,
        runs_router.router,
        {"report_run": runs_router.lean_report_run, "report_runs": runs_router.lean_report_runs},
    )
    lean.install(
        app,
        watch_router.router,
        {
            "get_status_history": lean.Operation(
                watch_router.lean_get_status_history, query=frozenset({"from", "to"})
            )
        },
    )
    lean.install(
        app,
        metrics_router.router,
        {
            "get_connection_metrics": lean.Operation(
                metrics_router.lean_get_connection_metrics, query=metrics_router.LEAN_QUERY
            )
        },
    )
    install_handlers(app)
    conventions.install(app, settings)
    # Outermost, so it counts every answer, the conventions' 401/413 included.
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
