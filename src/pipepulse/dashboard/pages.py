"""The dashboard's pages: organisations, an organisation's connection cards, a connection's
Streaming Status, and the pages' own static files."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipepulse.dashboard import (
    alerts_view,
    chart_range,
    connection_view,
    format,
    incidents,
    organisation_view,
    params,
    run_view,
)
from pipepulse.dashboard.rendering import HERE, DashboardRoute, render
from pipepulse.dashboard.sign_in import Viewer, landing
from pipepulse.deps import AppSettings, Now, ReadSession
from pipepulse.objectives import view as objectives_view
from pipepulse.schemas import ConnectionId, OrganisationPk, RunId

STATIC_FILES: Final = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, tags=["dashboard"])


@router.get("/orgs/", response_class=HTMLResponse)
async def organisations(request: Request, session: ReadSession, principal: Viewer) -> Response:
    """Pick an organisation (platform tokens); others go straight to theirs."""
    if principal.organisation_id is not None:
        return RedirectResponse(landing(principal), status_code=303)
    orgs = await organisation_view.visible_organisations(session, principal)
    return render(request, "organisations.html", principal=principal, organisations=orgs)


# Query values are read as text and checked here, so a wrong one gets a page that names the
# accepted values (dashboard.params) instead of a bare "not found".
Text = Annotated[str | None, Query(max_length=200)]


@router.get("/orgs/{organisation_pk}/", response_class=HTMLResponse)
async def organisation(
    request: Request,
    organisation_pk: OrganisationPk,
    session: ReadSession,
    principal: Viewer,
    now: Now,
    settings: AppSettings,
    status: Text = None,
    days: Text = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    partial: Annotated[bool, Query()] = False,
) -> Response:
    """The organisation's health summary and one card per connection, problems first."""
    status_filter = params.choice("status", status, {s: format.STATUS_WORDS[s] for s in format.STATUS_ORDER})
    health_days = params.choice(
        "days", days, organisation_view.HEALTH_DAY_LABELS, default=str(organisation_view.DEFAULT_HEALTH_DAYS)
    )
    assert health_days is not None
    view = await organisation_view.organisation_page(
        session,
        principal,
        organisation_pk,
        now=now,
        thresholds=settings.thresholds,
        status_filter=status_filter,
        health_days=int(health_days),
        cards_page=page,
        closed=request.app.state.closed_hours,
    )
    budgets = {
        card.connection.id: await objectives_view.views(session, card.connection, now, settings.thresholds)
        for card in view.cards
    }
    template = "_organisation_live.html" if partial else "organisation.html"
    # SPEC §7.7: the open alert groups, above the cards (the page above answered 404 already
    # for an organisation the viewer may not see).
    open_groups = await incidents.group_rows(session, organisation_pk, now, only_open=True)
    return render(
        request,
        template,
        principal=principal,
        page=view,
        now=now,
        open_groups=open_groups,
        health_day_labels=organisation_view.HEALTH_DAY_LABELS,
        budgets=budgets,
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
    period: Text = None,
    from_: Annotated[str | None, Query(alias="from", max_length=200)] = None,
    to: Text = None,
    runs: Text = None,
    runs_before: Text = None,
    runs_after: Text = None,
    runs_from: Text = None,
    partial: Annotated[bool, Query()] = False,
) -> Response:
    """The connection's Streaming Status: why it has its status, since when and what to do;
    its status history, charts and runs."""
    range_ = chart_range.chart_range(
        params.choice("period", period, chart_range.PERIOD_LABELS),
        params.day("from", from_),
        params.day("to", to),
        now,
        settings.thresholds,
    )
    failing_only = params.choice("runs", runs, connection_view.RUN_FILTERS, default="all") == "failing"
    view = await connection_view.connection_page(
        session,
        principal,
        organisation_pk,
        connection_id,
        now=now,
        thresholds=settings.thresholds,
        range_=range_,
        cursor=params.runs_cursor(runs_before, runs_after, runs_from),
        failing_only=failing_only,
    )
    notifications = await alerts_view.connection_notifications(session, organisation_pk, connection_id)
    objectives = await objectives_view.views(session, view.connection, now, settings.thresholds)
    template = "_connection_live.html" if partial else "connection.html"
    return render(
        request,
        template,
        principal=principal,
        view=view,
        now=now,
        period_labels=chart_range.PERIOD_LABELS,
        run_filters=connection_view.RUN_FILTERS,
        max_chart_days=chart_range.MAX_CHART_DAYS,
        notifications=notifications,
        objectives=objectives,
    )


@router.get("/orgs/{organisation_pk}/connections/{connection_id}/runs/{run_id}/", response_class=HTMLResponse)
async def run(
    request: Request,
    organisation_pk: OrganisationPk,
    connection_id: ConnectionId,
    run_id: RunId,
    session: ReadSession,
    principal: Viewer,
    now: Now,
    settings: AppSettings,
) -> Response:
    """One run: every field, what its outcome means, and the way back to its connection."""
    view = await run_view.run_page(
        session,
        principal,
        organisation_pk,
        connection_id,
        run_id,
        now=now,
        thresholds=settings.thresholds,
    )
    return render(request, "run.html", principal=principal, view=view, now=now)


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    """The icon a browser asks for on its own (pages name /static/dashboard/favicon.svg too)."""
    return await static_file("favicon.svg")


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
