"""``Allow`` names every method a path answers; ``OPTIONS`` answers with it (RFC 9110 §15.5.6).

Each operation is its own route, so Starlette's ``405`` lists only the methods of the first
route whose path matched. The full set is found by asking the app's routes which of the
HTTP methods they would answer for this very path, and kept per path template.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
_CACHE = "pipepulse_path_methods"


def answered_methods(app: FastAPI, request: Request) -> frozenset[str]:
    """The methods some route answers for the request's path (OPTIONS always among them)."""
    found = {"OPTIONS"}
    for method in METHODS:
        scope = {**request.scope, "method": method}
        for route in app.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                found.add(method)
                break
    return frozenset(found)


def allow_header(request: Request) -> str | None:
    """Every method the matched path answers, or None when no route matched the path."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return None
    app: FastAPI = request.app
    table: dict[str, frozenset[str]] = getattr(app.state, _CACHE, None) or {}
    methods = table.get(template)
    if methods is None:
        methods = answered_methods(app, request)
        table[template] = methods
        setattr(app.state, _CACHE, table)
    return ", ".join(sorted(methods))


def options_answer(request: Request, allow: str) -> Response | None:
    """The answer to ``OPTIONS`` on a path that exists: ``204`` with ``Allow``."""
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": allow})
    return None
