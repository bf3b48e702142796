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
from pipepulse.dashboard import format, service
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
templates.env.filters.update(
    number=format.number,
    exact=format.exact,
    iso=format.iso,
    duration=format.duration,
    label=format.label,
    destination=format.destination,
)
templates.env.globals.update(
    relative=format.relative,
    span=format.span,
    plural=format.plural,
    status_words=service.STATUS_WORDS,
    version=__version__,
    refresh_seconds=REFRESH_SECONDS,
    typed_events=typed_events,
)
templates.env.undefined = StrictUndefined


class SignInRequired(Exception):
    """No valid session: the page sends the visitor to the sign-in form."""


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def render_error(request: Request, status_code: int, message: str) -> HTMLResponse:
    titles = {404: "Not found", 403: "Not allowed", 405: "Not allowed", 503: "Unavailable"}
    return render(
        request,
        "error.html",
        status_code=status_code,
        title=titles.get(status_code, "Something went wrong"),
        message=message,
        status_code_value=status_code,
    )


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
            except RequestValidationError:
                # A malformed id or page number in a URL names nothing that exists.
                return render_error(request, 404, "There is no such page.")
            except AppError as exc:
                page = render_error(request, exc.status_code, _sentence(exc.detail))
                page.headers.update(exc.headers or {})
                return page
            except StarletteHTTPException as exc:
                return render_error(request, exc.status_code, _sentence(str(exc.detail)))
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
