"""A lean path for the hottest operations: the same answers without the framework's
per-request work.

A declared operation (its ``APIRoute``: OpenAPI entry, validation, errors) may get a lean
handler beside it. A :class:`LeanRoute` sits first in the router and takes the operation's
ordinary requests — no query string but the parameters its handler reads (:class:`Operation`),
each given once, a well-formed bearer, no body on a GET, a body labelled ``application/json``
that parses — so they pay no dependency resolution and no search through every route. The
query's values reach the handler validated by the declared fields' own types and constraints;
the handler validates the body with a validator compiled once, opens its one session and
answers with bytes. Every other request (a query value that would not validate among them), and
every request the handler declines (a path parameter or body that would not), goes to the
declared route untouched, the body it read replayed: so each refusal (415, 422, 401 before the
body, …) is the declared route's own, word for word. A handler declines only before it has done
anything; errors it raises after that are the same ``AppError``s the declared route raises,
answered by the same handlers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Router
from starlette.types import Message, Receive, Scope, Send

from pipepulse.auth.dependencies import secret_from_header
from pipepulse.conventions.query import CANONICAL_INT, spelling_problem
from pipepulse.conventions.routes import Param, declared_params, dependants, query_names
from pipepulse.errors import NotAuthenticated
from pipepulse.schemas import ID_PATTERN, MAX_INT_ID

# The labels every client of these operations sends; any other (still valid) one is checked
# by the declared route.
JSON_LABELS: Final = frozenset({b"application/json", b"application/json; charset=utf-8"})
_RESOURCE_ID = re.compile(ID_PATTERN)
_DECLINED = "pipepulse.lean_declined"


@dataclass(frozen=True)
class LeanCall:
    """An ordinary request of the operation, read once."""

    request: Request
    params: Mapping[str, str]
    secret: str
    body: Any  # the parsed JSON body; None when the operation takes none
    # The query parameters given, of those the operation reads, validated as the declared
    # route validates them (its types and constraints).
    query: Mapping[str, Any]


Handler = Callable[[LeanCall], Awaitable[Response | None]]


@dataclass(frozen=True)
class Operation:
    """A lean handler and the query parameters it reads (by the name a client sends): a request
    with any other, or with one of them given twice, goes the declared way."""

    handler: Handler
    query: frozenset[str] = frozenset()


def whole_id(text: str) -> int | None:
    """An integer id as the declared route accepts it (canonical digits, 1 to MAX_INT_ID), else None."""
    if not CANONICAL_INT.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_INT_ID else None


def resource_id(text: str) -> str | None:
    """A resource id (``[A-Za-z0-9_-]{1,64}``) as the declared route accepts it, else None."""
    return text if _RESOURCE_ID.match(text) else None


@dataclass(frozen=True)
class _QueryReader:
    param: Param  # its kind, for the one spelling conventions/query.py accepts
    validator: TypeAdapter[Any]  # the declared field's type and constraints


def _query_readers(route: APIRoute, names: frozenset[str]) -> dict[str, _QueryReader]:
    """For each query parameter the handler reads, what the declared route checks of it: the
    spelling of its kind (canonical whole numbers, flags) and its field's validator, built once."""
    params = {p.name: p for p in declared_params(route) if p.where == "query"}
    fields = {f.alias: f.field_info for d in dependants(route.dependant) for f in d.query_params}
    readers = {}
    for name in names:
        field = fields[name]
        declared: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        readers[name] = _QueryReader(params[name], TypeAdapter(declared))
    return readers


class LeanRoute(BaseRoute):
    def __init__(
        self, route: APIRoute, handler: Handler, router: Router, query: frozenset[str] = frozenset()
    ) -> None:
        methods = sorted(route.methods or ())
        if len(methods) != 1:
            raise ValueError(f"a lean route serves one method; {route.path} has {methods}")
        undeclared = sorted(query - query_names(route))
        if undeclared:
            raise ValueError(f"{route.name} declares no query parameter named {undeclared}")
        self.route = route
        self.handler = handler
        self.router = router
        self.query = _query_readers(route, query)
        self.method = methods[0]
        self.takes_body = route.body_field is not None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # A query string goes the declared way unless the handler reads one (handle() checks
        # its parameters): unknown or misspelt parameters are the declared route's 422s.
        if (
            scope["type"] != "http"
            or scope["method"] != self.method
            or (scope.get("query_string") and not self.query)
            or _DECLINED in scope
        ):
            return Match.NONE, {}
        match, child_scope = self.route.matches(scope)  # "route" in it is the declared route
        return (Match.FULL, child_scope) if match is Match.FULL else (Match.NONE, {})

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the declared route builds its URLs

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = content_type = None
        has_body = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value if authorization is None else authorization
            elif name == b"content-type":
                content_type = value if content_type is None else content_type
            elif name == b"transfer-encoding" or (
                name == b"content-length" and value.strip() not in (b"", b"0")
            ):
                has_body = True
        read: list[Message] = []
        call = None
        query = self._query(scope)
        if query is not None and authorization is not None and has_body == self.takes_body:
            if not self.takes_body:
                call = self._call(scope, receive, authorization, None, query)
            elif content_type is not None and content_type.lower() in JSON_LABELS:
                raw = await _read_body(receive, read)
                if raw is not None:
                    call = self._call(scope, receive, authorization, raw, query)
        answer = await self.handler(call) if call is not None else None
        if answer is None:
            # Routed again, past the lean routes: the declared route answers with the app's
            # dependencies and handlers, as if the lean route were not there.
            scope[_DECLINED] = True
            await self.router.app(scope, _replaying(read, receive), send)
            return
        await answer(scope, receive, send)

    def _query(self, scope: Scope) -> dict[str, Any] | None:
        """The query's parameters, each given once, read by the handler and valid; else None."""
        raw: bytes = scope.get("query_string", b"")
        if not raw:
            return {}
        found: dict[str, Any] = {}
        # Parsed as the declared route's request parses it (Starlette's QueryParams).
        for name, value in QueryParams(raw).multi_items():
            reader = self.query.get(name)
            if reader is None or name in found or spelling_problem(reader.param, value) is not None:
                return None
            try:
                found[name] = reader.validator.validate_python(value)
            except ValidationError:
                return None  # the declared route's 422 (after its 401, 403 or 404, if any)
        return found

    def _call(
        self,
        scope: Scope,
        receive: Receive,
        authorization: bytes,
        raw: bytes | None,
        query: Mapping[str, Any],
    ) -> LeanCall | None:
        try:
            secret = secret_from_header(authorization.decode("latin-1"))
            body = json.loads(raw) if raw is not None else None
        except (NotAuthenticated, ValueError, RecursionError):
            return None  # the declared route says what is wrong, in its order
        return LeanCall(Request(scope, receive), scope["path_params"], secret, body, query)


async def _read_body(receive: Receive, read: list[Message]) -> bytes | None:
    """The whole body, keeping every message for a replay; None when it did not arrive whole."""
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return None
        if not message.get("more_body", False):
            break
    raw = b"".join(m.get("body", b"") for m in read)
    return raw or None


def _replaying(read: list[Message], receive: Receive) -> Receive:
    """``receive`` as if nothing had been read from it."""
    pending = list(read)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def install(app: FastAPI, router: APIRouter, handlers: Mapping[str, Handler | Operation]) -> None:
    """Put a lean route first in the app for each of ``router``'s operations named (by its
    operation id) in ``handlers``; call once ``router`` is included. A bare handler reads no
    query parameters."""
    declared = {route.name: route for route in router.routes if isinstance(route, APIRoute)}
    missing = sorted(set(handlers) - set(declared))
    if missing:
        raise ValueError(f"no declared operation named {missing}")
    operations = {name: op if isinstance(op, Operation) else Operation(op) for name, op in handlers.items()}
    app.router.routes[:0] = [
        LeanRoute(declared[name], op.handler, app.router, op.query) for name, op in operations.items()
    ]
