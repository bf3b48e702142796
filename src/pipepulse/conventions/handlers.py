"""Answers to requests the API cannot read (SPEC §4.8): a body that is not JSON, a method a
path does not answer. The domain and storage errors are rendered by errors.install_handlers.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipepulse.conventions.bodies import content_type_problem, not_json, not_utf8, takes_json_body
from pipepulse.conventions.methods import allow_header, options_answer

BODY_TOO_DEEP = "the body is nested too deeply to read; send a flatter JSON value"
BODY_UNREADABLE = "the body could not be read as JSON; send a single JSON value encoded as UTF-8"


def _unreadable_body(request: Request, message: str, kind: str) -> JSONResponse:
    """A body that could not be parsed: 415 if it was not labelled JSON, else 422 saying where."""
    if takes_json_body(request):
        problem = content_type_problem(request)
        if problem:
            return JSONResponse({"detail": problem}, status_code=415)
    return JSONResponse({"detail": [{"loc": ["body"], "msg": message, "type": kind}]}, status_code=422)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                loc = list(err.get("loc", ()))
                position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
                reason = str((err.get("ctx") or {}).get("error", "JSON decode error"))
                return _unreadable_body(request, not_json(exc.body, position, reason), "json_invalid")
            item = {
                "loc": list(err.get("loc", ())),
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            errors.append(item)
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            allow = allow_header(request)
            if allow is not None:
                options = options_answer(request, allow)
                if options is not None:
                    return options
                return JSONResponse(
                    {"detail": f"{request.method} is not supported here; this path answers {allow}"},
                    status_code=405,
                    headers={**(exc.headers or {}), "Allow": allow},
                )
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "There was an error parsing the body": say what is wrong, and where.
            cause = exc.__cause__
            if isinstance(cause, UnicodeDecodeError):
                return _unreadable_body(request, not_utf8(cause), "utf8_invalid")
            if isinstance(cause, RecursionError):
                return _unreadable_body(request, BODY_TOO_DEEP, "json_invalid")
            return _unreadable_body(request, BODY_UNREADABLE, "json_invalid")
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
