"""Unknown query parameters and GET bodies are 422s, not silently ignored (SPEC §4.8).

An app-wide dependency: it reads the parameters each API route declares (its own and its
dependencies'), so a new endpoint complies by declaring its parameters the FastAPI way.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from pipepulse.conventions.routes import query_names
from pipepulse.schemas import API_PREFIX

BODYLESS_METHODS = frozenset({"GET", "HEAD"})


def has_body(request: Request) -> bool:
    headers = request.headers
    length = headers.get("content-length")
    return "transfer-encoding" in headers or (length is not None and length.strip() not in ("", "0"))


async def known_query_only(request: Request) -> None:
    route = request.scope.get("route")
    # The API's documented operations; the dashboard's pages tolerate what browsers add.
    if (
        not isinstance(route, APIRoute)
        or not route.include_in_schema
        or not route.path.startswith(API_PREFIX)
    ):
        return
    if request.method in BODYLESS_METHODS and has_body(request):
        raise RequestValidationError(
            [
                {
                    "loc": ("body",),
                    "msg": f"a {request.method} request takes no body; send the parameters in the query "
                    "(the bulk metrics endpoint also takes them as a POST body)",
                    "type": "body_not_allowed",
                }
            ]
        )
    if not request.scope.get("query_string"):
        return
    known = query_names(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if unknown:
        accepted = ", ".join(sorted(known)) if known else "no query parameters"
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": f"unknown query parameter {name!r}; this endpoint accepts: {accepted}",
                    "type": "unknown_parameter",
                }
                for name in unknown
            ]
        )
