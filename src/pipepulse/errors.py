"""Domain errors carry their HTTP status; one set of handlers renders every error body."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterator
from typing import Any, ClassVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from pipepulse.redaction import redact_text

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class AppError(Exception):
    status_code = 400
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotAuthenticated(AppError):
    status_code = 401
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class UnsupportedMediaType(AppError):
    """A body that is not labelled as JSON (415)."""

    status_code = 415


class Invalid(AppError):
    """A request that parses but breaks a rule only the service can check (422)."""

    status_code = 422

    def __init__(self, detail: str, *, loc: tuple[str | int, ...] = ("body",)) -> None:
        super().__init__(detail)
        self.loc = loc


class TooManyRequests(AppError):
    status_code = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}  # type: ignore[misc]


class ServiceUnavailable(AppError):
    status_code = 503
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class ErrorBody(BaseModel):
    """Every error answer except 422: a sentence saying what went wrong and what to do."""

    detail: str


DATABASE_UNAVAILABLE = "the database is unavailable; retry shortly"

# Each of these means "the database cannot be reached right now", whether it is raised at
# connect time, mid-query or while waiting for a pooled connection.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted
    TimeoutError,
    socket.gaierror,  # the host name does not resolve
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,  # every pooled connection is stuck on a dead server
    asyncpg.PostgresConnectionError,  # class 08, including ConnectionDoesNotExistError
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, admin shutdown
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.InterfaceError,  # "connection is closed"
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, the driver error SQLAlchemy wraps, and what caused each."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        orig = getattr(item, "orig", None)
        context = None if item.__suppress_context__ else item.__context__
        todo += [orig if isinstance(orig, BaseException) else None, item.__cause__, context]


_NETWORK_ERRNOS = frozenset(
    {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.EADDRNOTAVAIL}
)


def _network_oserror(exc: BaseException) -> bool:
    if not isinstance(exc, OSError):
        return False
    # asyncio reports a host with several addresses, none reachable, as one errno-less OSError.
    return exc.errno in _NETWORK_ERRNOS or str(exc).startswith("Multiple exceptions:")


def is_database_unavailable(exc: BaseException) -> bool:
    for item in _causes(exc):
        if isinstance(item, _UNAVAILABLE) or _network_oserror(item):
            return True
        if isinstance(item, DBAPIError) and item.connection_invalidated:
            return True
    return False


UNENCODABLE_TEXT = (
    "text must be valid Unicode: a lone surrogate (\\ud800-\\udfff) is not a character; "
    "send the whole surrogate pair or the character itself"
)


def is_unencodable_text(exc: BaseException) -> bool:
    """A lone surrogate from a request reached the driver, which cannot encode it as UTF-8."""
    return any(
        isinstance(item, UnicodeEncodeError) and item.reason == "surrogates not allowed"
        for item in _causes(exc)
    )


def database_unavailable_response() -> JSONResponse:
    return JSONResponse(
        {"detail": DATABASE_UNAVAILABLE},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install_handlers(app: FastAPI) -> None:
    """The domain errors and the storage errors; the API conventions (conventions/handlers.py)
    add the answers to malformed requests."""

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        if isinstance(exc, Invalid):
            body: Any = {"detail": [{"loc": list(exc.loc), "msg": exc.detail, "type": "value_error"}]}
        else:
            body = {"detail": exc.detail}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
        # Registered for the exception classes a database error can surface as, so Starlette's
        # ExceptionMiddleware answers it: nothing is re-raised to the server (no traceback per
        # request, the keep-alive connection survives, and Prometheus sees the real status).
        if is_unencodable_text(exc):
            # Request models refuse lone surrogates up front; this catches a body that reached
            # the database some other way. The transaction has rolled back: nothing is written.
            return JSONResponse(
                {"detail": [{"loc": ["body"], "msg": UNENCODABLE_TEXT, "type": "value_error"}]},
                status_code=422,
            )
        if is_database_unavailable(exc):
            log.warning("database unavailable: %s", type(exc).__name__, extra={"path": request.url.path})
            return database_unavailable_response()
        log.error(
            "unhandled error: %s",
            redact_text(str(exc)),
            exc_info=exc,
            extra={"path": request.url.path},
        )
        return JSONResponse({"detail": "internal error"}, status_code=500)

    for exc_class in (
        SQLAlchemyError,
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        UnicodeEncodeError,
    ):
        app.add_exception_handler(exc_class, _storage_error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The last resort (Starlette re-raises after this, so the server logs the bug).
        if is_database_unavailable(exc):
            return database_unavailable_response()
        log.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse({"detail": "internal error"}, status_code=500)
