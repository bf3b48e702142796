"""The dashboard's pages: organisations, an organisation's connection cards, a connection's
Streaming Status, and the pages' own static files."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipepulse.dashboard import alerts, service
from pipepulse.dashboard.rendering import HERE, DashboardRoute, render
from pipepulse.dashboard.sign_in import Viewer, landing
from pipepulse.deps import AppSettings, Now, ReadSession
from pipepulse.rules import Status
from pipepulse.schemas import ConnectionId, OrganisationPk

STATIC_FILES: Final = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, tags=["dashboard"])


@router.get("/orgs/", response_class=HTMLResponse)
async def organisations(request: Request, session: ReadSession, principal: Viewer) -> Response:
    """Pick an organisation (platform tokens); others go straight to theirs."""
    if principal.organisation_id is not None:
        return RedirectResponse(landing(principal), status_code=303)
    orgs = await service.visible_organisations(session, principal)
    return render(request, "organisations.html", principal=principal, organisations=orgs)


StatusFilter = Annotated[Status | None, Query(alias="status")]
Period = Literal["24h", "7d", "30d"]


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
    period: Period = service.DEFAULT_PERIOD,
    partial: Annotated[bool, Query()] = False,
) -> Response:
    """The connection's Streaming Status: everything its telemetry says, its status history,
    charts and runs."""
    view = await service.connection_page(
        session,
        principal,
        organisation_pk,
        connection_id,
        now=now,
        thresholds=settings.thresholds,
        page=page,
        period=period,
    )
    notifications = await alerts.connection_notifications(session, organisation_pk, connection_id)
    template = "_connection_live.html" if partial else "connection.html"
    return render(
        request,
        template,
        principal=principal,
        view=view,
        now=now,
        periods=service.PERIOD_WORDS,
        notifications=notifications,
    )


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
