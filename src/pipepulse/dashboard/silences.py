"""The Alerts page's forms for silences and maintenance windows (SPEC §7.4, §7.7).

Like the page's other forms: a POST from this site only, by a token with ``write:alerts``, through
the same service functions as ``…/silences/`` and ``…/maintenance-windows/``. A field the API
would refuse re-renders the page (422) with the API's message and the form as typed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from pipepulse.alerts import silences_router
from pipepulse.alerts.silences_router import SilenceCreate, WindowCreate
from pipepulse.dashboard import silence_forms
from pipepulse.dashboard.alerts import Db, guard, page_path, read_form, refusal, show_page
from pipepulse.dashboard.rendering import DashboardRoute
from pipepulse.dashboard.sign_in import Viewer
from pipepulse.deps import AppSettings, Now
from pipepulse.errors import AppError
from pipepulse.organisations import service as organisations_service
from pipepulse.schemas import OrganisationPk

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, tags=["dashboard"])
SilenceId = Annotated[str, Path(pattern=r"^sil_[0-9a-f]{16}$")]
WindowId = Annotated[str, Path(pattern=r"^mtw_[0-9a-f]{16}$")]
SILENCE_FIELDS = ("matchers", "starts_at", "ends_at", "duration", "comment")
WINDOW_FIELDS = ("matchers", "time_zone", "start", "duration_minutes", "comment")


@router.post("/orgs/{organisation_pk}/alerts/silences", response_class=HTMLResponse)
async def add_silence(
    request: Request,
    organisation_pk: OrganisationPk,
    db: Db,
    principal: Viewer,
    now: Now,
    settings: AppSettings,
) -> Response:
    """Add a silence: matchers, a start (blank: now), an end or a duration, a comment."""
    refused = guard(request, principal, organisation_pk)
    if refused is not None:
        return refused
    form = await read_form(request)
    fields = {k: (form.get(k) or [""])[0] for k in SILENCE_FIELDS}
    try:
        body = SilenceCreate(**silence_forms.silence_body(fields, now))
        async with db.session(write=True) as session:
            await organisations_service.get_visible(session, principal, organisation_pk)
            await silences_router.create_organisation_silence(
                session, principal, organisation_pk, body, now, settings.alerts_max_silences_per_org
            )
    except (silence_forms.FormError, ValidationError, AppError) as exc:
        message = refusal(exc)
        if message is None:
            raise
        async with db.session() as session:
            return await show_page(
                request,
                session,
                principal,
                organisation_pk,
                now,
                status_code=422,
                message=message,
                silence_form=fields,
            )
    return RedirectResponse(page_path(organisation_pk) + "?done=silence-added", status_code=303)


@router.post("/orgs/{organisation_pk}/alerts/silences/{silence_id}/expire")
async def expire_silence(
    request: Request,
    organisation_pk: OrganisationPk,
    silence_id: SilenceId,
    db: Db,
    principal: Viewer,
    now: Now,
) -> Response:
    """Expire a silence now (the API keeps it listed as expired; the page lists live ones)."""
    refused = guard(request, principal, organisation_pk)
    if refused is not None:
        return refused
    async with db.session(write=True) as session:
        await silences_router.expire_organisation_silence(session, organisation_pk, silence_id, now)
    return RedirectResponse(page_path(organisation_pk) + "?done=silence-expired", status_code=303)


@router.post("/orgs/{organisation_pk}/alerts/maintenance-windows", response_class=HTMLResponse)
async def add_window(
    request: Request, organisation_pk: OrganisationPk, db: Db, principal: Viewer, now: Now
) -> Response:
    """Add a weekly maintenance window: matchers, time zone, weekdays, local start, minutes."""
    refused = guard(request, principal, organisation_pk)
    if refused is not None:
        return refused
    form = await read_form(request)
    fields: dict[str, Any] = {k: (form.get(k) or [""])[0] for k in WINDOW_FIELDS}
    weekdays = form.get("weekdays", [])
    try:
        body = WindowCreate(**silence_forms.window_body(fields, weekdays))
        async with db.session(write=True) as session:
            await organisations_service.get_visible(session, principal, organisation_pk)
            await silences_router.create_organisation_window(session, organisation_pk, body, now)
    except (silence_forms.FormError, ValidationError, AppError) as exc:
        message = refusal(exc)
        if message is None:
            raise
        async with db.session() as session:
            return await show_page(
                request,
                session,
                principal,
                organisation_pk,
                now,
                status_code=422,
                message=message,
                window_form=fields | {"weekdays": weekdays},
            )
    return RedirectResponse(page_path(organisation_pk) + "?done=window-added", status_code=303)


@router.post("/orgs/{organisation_pk}/alerts/maintenance-windows/{window_id}/delete")
async def delete_window(
    request: Request, organisation_pk: OrganisationPk, window_id: WindowId, db: Db, principal: Viewer
) -> Response:
    """Delete a maintenance window."""
    refused = guard(request, principal, organisation_pk)
    if refused is not None:
        return refused
    async with db.session(write=True) as session:
        await silences_router.delete_organisation_window(session, organisation_pk, window_id)
    return RedirectResponse(page_path(organisation_pk) + "?done=window-deleted", status_code=303)
