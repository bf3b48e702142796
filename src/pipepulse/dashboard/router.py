"""The web dashboard: sign in with a token, organisation cards, each connection's Streaming Status."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipepulse import __version__
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.auth.principals import ServicePrincipal, UserPrincipal
from pipepulse.dashboard import format, service
from pipepulse.dashboard import session as web_session
from pipepulse.deps import AppSettings, Now, ReadSession
from pipepulse.errors import RETRY_AFTER_SECONDS, AppError, is_database_unavailable
from pipepulse.schemas import ConnectionId, OrganisationPk
from pipepulse.telemetry.rules import typed_events

HERE = Path(__file__).parent
STATIC_FILES: Final = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
MAX_FORM_BYTES = 8192
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
                return render_error(request, exc.status_code, _sentence(exc.detail))
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


router = APIRouter(route_class=DashboardRoute, include_in_schema=False, tags=["dashboard"])


async def signed_in(request: Request, session: ReadSession) -> UserPrincipal:
    data = web_session.read(request)
    if data is None:
        raise SignInRequired
    principal = await web_session.principal(session, data)
    if principal is None or scopes.READ_PIPELINE_METRICS not in principal.scopes:
        raise SignInRequired
    return principal


Viewer = Annotated[UserPrincipal, Depends(signed_in)]


def landing(principal: UserPrincipal) -> str:
    if principal.organisation_id is not None:
        return f"/orgs/{principal.organisation_id}/"
    return "/orgs/"


def safe_next(value: str | None) -> str | None:
    """Only a path on this site: never another host (an open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def cross_site(request: Request) -> bool:
    """A POST from another site (defence in depth beside SameSite=Strict)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != request.headers.get("host", request.url.netloc)


@router.get("/", response_class=HTMLResponse)
async def sign_in_form(
    request: Request,
    session: ReadSession,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
    signed_out: Annotated[bool, Query()] = False,
) -> Response:
    """The sign-in form (or straight on to the dashboard when already signed in)."""
    data = web_session.read(request)
    principal = await web_session.principal(session, data) if data is not None else None
    if principal is not None and scopes.READ_PIPELINE_METRICS in principal.scopes:
        return RedirectResponse(safe_next(next_path) or landing(principal), status_code=303)
    notice = "You have signed out." if signed_out else None
    return render(request, "sign_in.html", next_path=safe_next(next_path) or "", notice=notice, message=None)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, session: ReadSession) -> Response:
    """Check the token and start a session."""
    if cross_site(request):
        return render_error(request, 403, "Sign-in must come from this site's own form.")
    body = await request.body()
    form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    next_path = safe_next((form.get("next") or [""])[0])

    def refuse(message: str, status_code: int) -> HTMLResponse:
        return render(
            request,
            "sign_in.html",
            status_code=status_code,
            next_path=next_path or "",
            notice=None,
            message=message,
        )

    if not token:
        return refuse("Paste an API token to sign in.", 400)
    principal = await auth_service.authenticate(session, token)
    if principal is None:
        return refuse(
            "That token was not accepted. Check it was copied whole; it may have been revoked.", 401
        )
    if isinstance(principal, ServicePrincipal):
        return refuse(
            "That is a service key, which only loaders may use. "
            "Sign in with a user token (it starts with ppt_).",
            403,
        )
    if scopes.READ_PIPELINE_METRICS not in principal.scopes:
        return refuse(f"That token lacks the {scopes.READ_PIPELINE_METRICS} scope the dashboard needs.", 403)
    response = RedirectResponse(next_path or landing(principal), status_code=303)
    await web_session.start(request, response, session, principal.token_id)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End the session."""
    if cross_site(request):
        return render_error(request, 403, "Sign-out must come from this site's own form.")
    response = RedirectResponse("/?signed_out=true", status_code=303)
    web_session.end(request, response)
    return response


@router.get("/orgs/", response_class=HTMLResponse)
async def organisations(request: Request, session: ReadSession, principal: Viewer) -> Response:
    """Pick an organisation (platform tokens); others go straight to theirs."""
    if principal.organisation_id is not None:
        return RedirectResponse(landing(principal), status_code=303)
    orgs = await service.visible_organisations(session, principal)
    return render(request, "organisations.html", principal=principal, organisations=orgs)


StatusFilter = Annotated[str | None, Query(alias="status", pattern="^(active|degraded|error|idle)$")]


@router.get("/orgs/{organisation_pk}/", response_class=HTMLResponse)
async def organisation(
    request: Request,
    organisation_pk: OrganisationPk,
    session: ReadSession,
    principal: Viewer,
    now: Now,
    settings: AppSettings,
    status: StatusFilter = None,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    partial: Annotated[bool, Query()] = False,
) -> Response:
    """The organisation's health summary and one card per connection, problems first."""
    view = await service.organisation_page(
        session,
        principal,
        organisation_pk,
        now=now,
        thresholds=settings.thresholds,
        status_filter=status,
        health_days=days,
        cards_page=page,
    )
    template = "_organisation_live.html" if partial else "organisation.html"
    return render(
        request, template, principal=principal, page=view, now=now, health_days_choices=service.HEALTH_DAYS
    )


@router.get("/orgs/{organisation_pk}/connections/{connection_id}/", response_class=HTMLResponse)
async def connection(
    request: Request,
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    session: ReadSession,
    principal: Viewer,
    now: Now,
    settings: AppSettings,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    partial: Annotated[bool, Query()] = False,
) -> Response:
    """The connection's Streaming Status: everything its telemetry says, charts and runs."""
    view = await service.connection_page(
        session,
        principal,
        organisation_pk,
        connection_id,
        now=now,
        thresholds=settings.thresholds,
        page=page,
    )
    template = "_connection_live.html" if partial else "connection.html"
    return render(request, template, principal=principal, view=view, now=now)


@router.get("/static/dashboard/{name}")
async def static_file(name: str) -> Response:
    """The dashboard's own stylesheet and script (nothing third-party)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise StarletteHTTPException(404, "no such file")
    return FileResponse(
        HERE / "static" / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
