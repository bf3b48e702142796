"""What a route declares, read from its FastAPI dependency tree."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

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


@dataclass(frozen=True)
class Param:
    """A query or path parameter as the client sends it, and the kind of value it takes."""

    where: str  # "query" or "path"
    name: str
    kind: str  # "int", "bool" or "other"
    repeatable: bool


def _kind(annotation: Any) -> tuple[str, bool]:
    """(kind, repeatable) of an annotation such as ``int``, ``int | None`` or ``list[str]``."""
    args = get_args(annotation)
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return "other", True
    if args and origin is not None and origin is not Literal:
        kinds = {_kind(arg) for arg in args if arg is not type(None)}
        if len(kinds) == 1:
            return kinds.pop()
        return "other", any(repeatable for _, repeatable in kinds)
    if annotation is bool:
        return "bool", False
    if annotation is int:
        return "int", False
    return "other", False


def declared_params(route: APIRoute) -> tuple[Param, ...]:
    """Every query and path parameter the route declares (its own and its dependencies')."""
    cached: tuple[Param, ...] | None = getattr(route, "_pipepulse_params", None)
    if cached is None:
        found: dict[tuple[str, str], Param] = {}
        for dependant in dependants(route.dependant):
            for where, fields in (("query", dependant.query_params), ("path", dependant.path_params)):
                for field in fields:
                    kind, repeatable = _kind(field.field_info.annotation)
                    found[(where, field.alias)] = Param(where, field.alias, kind, repeatable)
        cached = tuple(found.values())
        route._pipepulse_params = cached  # type: ignore[attr-defined]
    return cached
