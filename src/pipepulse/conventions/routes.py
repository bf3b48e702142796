"""What a route declares, read from its FastAPI dependency tree."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute


def other_slash(path: str) -> str:
    """``/a/`` ↔ ``/a``: the other spelling of the same path (SPEC §4.8)."""
    return path[:-1] if path.endswith("/") else path + "/"


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
