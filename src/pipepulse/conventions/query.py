"""Unknown query parameters and GET bodies are 422s, not silently ignored (SPEC §4.8).

An app-wide dependency: it reads the parameters each API route declares (its own and its
dependencies'), so a new endpoint complies by declaring its parameters the FastAPI way. It
also holds every parameter to one spelling: a whole number only as canonical decimal digits
(``12``, not ``12.0``, ``+12``, ``012`` or `` 12``), a flag only as ``true`` or ``false``,
and a single-valued parameter given once.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from pipepulse.conventions.routes import Param, declared_params, query_names
from pipepulse.schemas import API_PREFIX

BODYLESS_METHODS = frozenset({"GET", "HEAD"})

CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]*)")
BOOLEANS = frozenset({"true", "false"})


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def spelling_problem(param: Param, value: str) -> tuple[str, str] | None:
    """(message, type) when ``value`` is not the one accepted spelling of the parameter's kind."""
    if param.kind == "int" and not CANONICAL_INT.fullmatch(value):
        return (
            f"{param.name} must be a whole number written as plain decimal digits (e.g. 12), "
            f"without sign, leading zeros, fraction or spaces; got {_shown(value)}",
            "int_parsing",
        )
    if param.kind == "bool" and value not in BOOLEANS:
        return f"{param.name} must be true or false; got {_shown(value)}", "bool_parsing"
    return None


def check_spelling(request: Request, params: tuple[Param, ...]) -> None:
    """Canonical ints and flags in the path and query; single-valued parameters given once."""
    errors: list[dict[str, object]] = []
    path_params = request.path_params
    query = request.query_params
    for param in params:
        if param.where == "path":
            values = [str(path_params[param.name])] if param.name in path_params else []
        else:
            values = query.getlist(param.name)
            if len(values) > 1 and not param.repeatable:
                errors.append(
                    {
                        "loc": ("query", param.name),
                        "msg": f"query parameter {param.name!r} is given {len(values)} times; "
                        "it takes one value, so send it once",
                        "type": "repeated_parameter",
                    }
                )
                continue
        for value in values:
            problem = spelling_problem(param, value)
            if problem:
                errors.append({"loc": (param.where, param.name), "msg": problem[0], "type": problem[1]})
    if errors:
        raise RequestValidationError(errors)


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
        check_spelling(request, declared_params(route))
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
    check_spelling(request, declared_params(route))
