"""How dashboard pages are rendered: the Jinja environment, security headers, HTML error pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipepulse import __version__
from pipepulse.auth import scopes
from pipepulse.auth.principals import UserPrincipal
from pipepulse.dashboard import cookies, format, params
from pipepulse.errors import RETRY_AFTER_SECONDS, AppError, is_database_unavailable
from pipepulse.rules import typed_events

HERE = Path(__file__).parent
REFRESH_SECONDS = 30

SECURITY_HEADERS: Final = {
    # Everything the pages use is served from here: no inline script or style, no CDN.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=HERE / "templates")
# Pages refresh every 30 s and a month's chart has 720 bars: no line of indentation per tag.
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True
templates.env.filters.update(
    number=format.number,
    exact=format.exact,
    iso=format.iso,
    duration=format.duration,
    label=format.label,
    destination=format.destination,
    utc=format.utc,
)
templates.env.globals.update(
    relative=format.relative,
    span=format.span,
    plural=format.plural,
    status_words=format.STATUS_WORDS,
    version=__version__,
    refresh_seconds=REFRESH_SECONDS,
    typed_events=typed_events,
    query=params.query,
    period_words=format.period_words,
)
templates.env.undefined = StrictUndefined


class SignInRequired(Exception):
    """No valid session: the page sends the visitor to the sign-in form."""


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


TITLES: Final = {
    400: "Check the address",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    503: "Unavailable",
}


async def viewer(request: Request) -> UserPrincipal | None:
    """Who is signed in, for the header of an error page (None when nobody, or when the
    database cannot say)."""
    data = cookies.read(request)
    if data is None:
        return None
    try:
        async with request.app.state.database.session() as session:
            principal = await cookies.principal(session, data, request.app.state.clock())
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        return None
    if principal is None or scopes.READ_PIPELINE_METRICS not in principal.scopes:
        return None
    return principal


def render_error(
    request: Request,
    status_code: int,
    message: str,
    *,
    principal: UserPrincipal | None = None,
    choices: list[tuple[str, str]] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        status_code=status_code,
        title=TITLES.get(status_code, "Something went wrong"),
        message=message,
        status_code_value=status_code,
        principal=principal,
        choices=choices or [],
    )


def _with(request: Request, name: str, value: str | None, *, drop: tuple[str, ...] = ()) -> str:
    """This page's address with one query parameter set (or dropped, for None), and those in
    ``drop`` left out."""
    kept = {k: v for k, v in request.query_params.items() if k not in (name, "partial", *drop)}
    return request.url.path + params.query(kept, **{name: value})


def _query_errors(exc: RequestValidationError) -> list[tuple[str, str]] | None:
    """(parameter, message) for errors that are all in the query; None when a path is wrong."""
    found = []
    for error in exc.errors():
        loc = error.get("loc", ())
        if len(loc) < 2 or loc[0] != "query":
            return None
        found.append((str(loc[1]), str(error.get("msg", "not valid"))))
    return found


class DashboardRoute(APIRoute):
    """Dashboard routes answer errors with HTML pages; the JSON API keeps its JSON handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def html_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/?next={quote(target, safe='')}", status_code=303)
            except RequestValidationError as exc:
                wrong = _query_errors(exc)
                who = await viewer(request)
                if wrong is None:
                    # A malformed id in a URL names nothing that exists.
                    return render_error(request, 404, "There is no such page.", principal=who)
                message = " ".join(
                    f"{name}={request.query_params.get(name, '')}: {msg}." for name, msg in wrong
                )
                name = wrong[0][0]
                return render_error(
                    request,
                    400,
                    message,
                    principal=who,
                    choices=[(f"Without {name}", _with(request, name, None))],
                )
            except params.BadParameter as exc:
                choices = [(label, _with(request, exc.name, value)) for label, value in exc.choices]
                without = " and ".join(exc.drop)
                choices = choices or [(f"Without {without}", _with(request, exc.name, None, drop=exc.drop))]
                return render_error(
                    request, 400, exc.detail, principal=await viewer(request), choices=choices
                )
            except AppError as exc:
                page = render_error(
                    request, exc.status_code, _sentence(exc.detail), principal=await viewer(request)
                )
                page.headers.update(exc.headers or {})
                return page
            except StarletteHTTPException as exc:
                return render_error(
                    request, exc.status_code, _sentence(str(exc.detail)), principal=await viewer(request)
                )
            except Exception as exc:
                if not is_database_unavailable(exc):
                    raise
                page = render_error(request, 503, "The database is unavailable right now; try again shortly.")
                page.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
                return page

        return html_errors


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."
