"""Signing in and out of the dashboard with an API token, and the session every page needs."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from pipepulse.auth import scopes
from pipepulse.auth.dependencies import authenticate
from pipepulse.auth.principals import ServicePrincipal, UserPrincipal
from pipepulse.auth.throttle import TooManyAuthFailures
from pipepulse.dashboard import cookies
from pipepulse.dashboard.rendering import DashboardRoute, SignInRequired, render, render_error
from pipepulse.deps import Now, ReadSession, WriteSession

MAX_FORM_BYTES = 8192

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, tags=["dashboard"])


async def signed_in(request: Request, session: ReadSession, now: Now) -> UserPrincipal:
    data = cookies.read(request)
    if data is None:
        raise SignInRequired
    principal = await cookies.principal(session, data, now)
    if principal is None or scopes.READ_PIPELINE_METRICS not in principal.scopes:
        raise SignInRequired
    return principal


Viewer = Annotated[UserPrincipal, Depends(signed_in)]


def platform_only(request: Request, principal: UserPrincipal) -> Response | None:
    """The platform pages are for platform tokens: an organisation's session is told there is
    no such page, as for another organisation's pages."""
    if principal.is_platform:
        return None
    return render_error(
        request,
        404,
        "There is no such page for this token: platform pages need a platform token.",
        principal=principal,
    )


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


DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, the default port filled in; None if it has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def cross_site(request: Request) -> bool:
    """A state-changing POST that may not be from this site's own form (defence in depth beside
    SameSite=Strict): its ``Origin`` (or, when a browser sent none, its ``Referer``) must have
    the site's scheme, host and port. A post with neither is refused: every browser sends one
    of them on a same-site form post (the pages set ``Referrer-Policy: same-origin``)."""
    own = origin_of(str(request.base_url))
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if own is None or not claimed or claimed == "null":
        return True
    return origin_of(claimed) != own


@router.get("/", response_class=HTMLResponse)
async def sign_in_form(
    request: Request,
    session: ReadSession,
    now: Now,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
    signed_out: Annotated[bool, Query()] = False,
) -> Response:
    """The sign-in form (or straight on to the dashboard when already signed in)."""
    data = cookies.read(request)
    principal = await cookies.principal(session, data, now) if data is not None else None
    if principal is not None and scopes.READ_PIPELINE_METRICS in principal.scopes:
        return RedirectResponse(safe_next(next_path) or landing(principal), status_code=303)
    notice = "You have signed out." if signed_out else None
    return render(request, "sign_in.html", next_path=safe_next(next_path) or "", notice=notice, message=None)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, session: WriteSession, now: Now) -> Response:
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
    try:
        # The same throttle as the API's bearer tokens: a wrong token counts against this address.
        principal = await authenticate(request, session, token)
    except TooManyAuthFailures as exc:
        page = refuse(
            "Too many sign-in attempts with a wrong token from this address. "
            f"Try again in {exc.retry_after} seconds.",
            429,
        )
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
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
    await cookies.start(request, response, session, principal, now)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: WriteSession, now: Now) -> Response:
    """End the session: revoked on the server, so the old cookie no longer signs anyone in."""
    if cross_site(request):
        return render_error(request, 403, "Sign-out must come from this site's own form.")
    response = RedirectResponse("/?signed_out=true", status_code=303)
    await cookies.end(request, response, session, now)
    return response
