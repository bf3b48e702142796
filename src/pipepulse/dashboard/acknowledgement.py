"""Acknowledging an alert group from the Incidents pages (SPEC §7.4, §7.7).

A form POST from this site only, by a token with ``write:alerts``, through the same service
function as ``POST …/alert-groups/{id}/acknowledge``. The organisation's page and the platform's
both post here (the platform's says so in ``back``, and is shown again afterwards); a comment the
API would refuse re-renders the page as 422 with the API's message, a closed group as 409.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from pipepulse.alerts import silences_router
from pipepulse.alerts.silences_router import Acknowledge
from pipepulse.dashboard import incidents, platform_incidents
from pipepulse.dashboard.alerts import Db, guard, read_form, refusal
from pipepulse.dashboard.incidents import GroupId
from pipepulse.dashboard.rendering import DashboardRoute
from pipepulse.dashboard.sign_in import Viewer
from pipepulse.deps import Now
from pipepulse.errors import AppError, Conflict
from pipepulse.schemas import OrganisationPk

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, tags=["dashboard"])


def refused_with(exc: Exception) -> tuple[str, int] | None:
    """(message, status) for a refusal the page shows; None for an error that is not the form's."""
    if isinstance(exc, Conflict):
        return exc.detail, 409
    message = refusal(exc)
    return (message, 422) if message is not None else None


@router.post("/orgs/{organisation_pk}/incidents/{group_id}/acknowledge", response_class=HTMLResponse)
async def acknowledge(
    request: Request,
    organisation_pk: OrganisationPk,
    group_id: GroupId,
    db: Db,
    principal: Viewer,
    now: Now,
) -> Response:
    """Acknowledge an open group (the comment is optional)."""
    refused = guard(request, principal, organisation_pk)
    if refused is not None:
        return refused
    form = await read_form(request)
    comment = (form.get("comment") or [""])[0]
    from_platform = (form.get("back") or [""])[0] == "platform" and principal.is_platform
    try:
        body = Acknowledge(comment=comment)
        async with db.session(write=True) as session:
            await silences_router.acknowledge_group(
                session, principal, organisation_pk, group_id, body.comment, now
            )
    except (ValidationError, AppError) as exc:
        shown = refused_with(exc)
        if shown is None:
            raise
        message, status_code = shown
        async with db.session() as session:
            if from_platform:
                return await platform_incidents.show_page(
                    request, session, principal, now, status_code=status_code, message=message
                )
            return await incidents.show_page(
                request,
                session,
                principal,
                organisation_pk,
                now,
                group_id=group_id,
                status_code=status_code,
                message=message,
                comment=comment,
            )
    if from_platform:
        return RedirectResponse(f"{platform_incidents.PAGE}?done=acknowledged", status_code=303)
    return RedirectResponse(
        f"/orgs/{organisation_pk}/incidents/{group_id}/?done=acknowledged", status_code=303
    )
