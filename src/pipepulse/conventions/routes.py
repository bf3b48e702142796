"""What a request's route is, and what it declares, for the layers that run before routing."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Scope


def other_slash(path: str) -> str:
    """``/a/`` ↔ ``/a``: the other spelling of the same path (SPEC §4.8)."""
    return path[:-1] if path.endswith("/") else path + "/"


def match(router: Router, scope: Scope) -> BaseRoute | None:
    """The route that will serve this request, with or without its trailing slash."""
    for path in (scope["path"], other_slash(scope["path"])):
        if path == "":
            continue
        candidate = {**scope, "path": path}
        for route in router.routes:
            found, _ = route.matches(candidate)
            if found is Match.FULL:
                return route
    return None


def dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from dependants(sub)


def query_names(route: APIRoute) -> frozenset[str]:
    """Every query parameter the route declares, by the name a client sends (its alias)."""
    cached: frozenset[str] | None = getattr(route, "_pipepulse_query_names", None)
    if cached is None:
        cached = frozenset(field.alias for d in dependants(route.dependant) for field in d.query_params)
        route._pipepulse_query_names = cached  # type: ignore[attr-defined]
    return cached


def needs_bearer(route: BaseRoute | None) -> bool:
    """Whether the route authenticates with a bearer credential (declares the bearer scheme)."""
    if not isinstance(route, APIRoute):
        return False
    cached: bool | None = getattr(route, "_pipepulse_needs_bearer", None)
    if cached is None:
        from pipepulse.auth.dependencies import bearer_secret

        cached = any(d.call is bearer_secret for d in dependants(route.dependant))
        route._pipepulse_needs_bearer = cached  # type: ignore[attr-defined]
    return cached
