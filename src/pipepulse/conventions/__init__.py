"""The API's conventions (SPEC §4.8), applied to every route without the route asking.

- both slash forms of every path, no redirect (:mod:`.slashes`);
- unknown query parameters and GET bodies are 422, every parameter in its one spelling
  (:mod:`.query`, an app-wide dependency);
- bodies are labelled JSON (415), and an unreadable one is a 422 saying where (:mod:`.bodies`);
- bodies over ``PIPEPULSE_MAX_BODY_BYTES`` are 413, anonymous bodies 401, before buffering
  (:mod:`.body_limit`);
- security headers on every answer (:mod:`.headers`);
- every error documented in OpenAPI with its body (:mod:`.openapi`);
- Swagger UI and ReDoc from local assets (:mod:`.docs`).
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from starlette.types import Scope

from pipepulse.config import Settings
from pipepulse.conventions import docs, handlers, openapi, slashes
from pipepulse.conventions.bodies import json_content_type
from pipepulse.conventions.body_limit import BodyLimitMiddleware
from pipepulse.conventions.headers import SecurityHeadersMiddleware
from pipepulse.conventions.query import known_query_only
from pipepulse.schemas import API_PREFIX


def operation_id(route: APIRoute) -> str:
    """The route function's name (``get_telemetry``): what a generated client calls it by."""
    return route.name


def dependencies() -> list[DependsParam]:
    """App-wide dependencies: pass to ``FastAPI(dependencies=…)`` so every route gets them."""
    return [Depends(known_query_only), Depends(json_content_type)]


def install(app: FastAPI, settings: Settings) -> None:
    """Call once every router is included (the middleware added after this wraps these)."""
    from pipepulse.auth.dependencies import MISSING_BEARER

    handlers.install_handlers(app)
    app.include_router(docs.router)
    slashes.install(app.router)
    openapi.install(app)

    public = (app.openapi_url or "", docs.DOCS_PATH, docs.REDOC_PATH)

    def needs_bearer(scope: Scope) -> bool:
        # Every operation under /api/v1 authenticates with a bearer (SPEC §4.1) but the
        # document and its viewers, which take no body.
        path: str = scope["path"]
        return path.startswith(API_PREFIX + "/") and not path.startswith(public)

    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        needs_bearer=needs_bearer,
        missing_bearer=MISSING_BEARER,
    )
    app.add_middleware(SecurityHeadersMiddleware)
