"""The platform Alerts page: silences over every organisation (SPEC §7.4 platform scope), and
the platform's channels and rules, listed read-only (they are made through the API).

Platform tokens only (an organisation's session is told there is no such page). Listed, added and
expired through the same service functions as ``/api/v1/platform/silences/``, with the
organisation Alerts page's silence form and its reading of the fields (dashboard/silence_forms.py),
so a field is refused with the same message on both pages and in the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts import router as alerts_router
from pipepulse.alerts import service as alerts_service
from pipepulse.alerts import silences_router
from pipepulse.alerts.silences_router import SilenceCreate
from pipepulse.auth import scopes
from pipepulse.auth.principals import UserPrincipal
from pipepulse.dashboard import silence_forms
from pipepulse.dashboard.alerts import NOTICES, Db, read_form, refusal
from pipepulse.dashboard.rendering import DashboardRoute, render, render_error
from pipepulse.dashboard.sign_in import Viewer, cross_site, platform_only
from pipepulse.dashboard.silences import SILENCE_FIELDS
from pipepulse.deps import AppSettings, Now, ReadSession
from pipepulse.errors import AppError, Forbidden

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, tags=["dashboard"])
PAGE = "/platform/alerts/"
SilenceId = Annotated[str, Path(pattern=r"^sil_[0-9a-f]{16}$")]
# Platform channels and rules listed (the bounds keep them fewer, unless an operator raised them).
LISTED = 200


@dataclass(frozen=True)
class PlatformAlertsPage:
    can_change: bool


async def show_page(
    request: Request,
    session: AsyncSession,
    principal: UserPrincipal,
    now: datetime,
    *,
    status_code: int = 200,
    notice: str | None = None,
    message: str | None = None,
    silence_form: dict[str, str] | None = None,
) -> Response:
    refused = platform_only(request, principal)
    if refused is not None:
        return refused
    listed = await silences_router.platform_silences(session, principal, None, now)
    channels, _ = await alerts_service.list_channels(session, principal, None, offset=0, limit=LISTED)
    rules, _ = await alerts_service.list_rules(session, principal, None, offset=0, limit=LISTED)
    return render(
        request,
        "platform_alerts.html",
        status_code=status_code,
        principal=principal,
        page=PlatformAlertsPage(can_change=scopes.WRITE_ALERTS in principal.scopes),
        now=now,
        notice=notice,
        message=message,
        # Active and pending ones; expired silences are history, on the API.
        silences=silence_forms.SilencesPanel(
            silences=[s for s in listed if s.state != "expired"], windows=[]
        ),
        silence_form=silence_form or {},
        silences_path=PAGE.rstrip("/"),
        show_matcher=silence_forms.show_matcher,
        platform_channels=[alerts_router.channel_out(c) for c in channels],
        platform_rules=[alerts_router.rule_out(r) for r in rules],
        platform_channel_names={c.id: c.name for c in channels},
    )


def guard(request: Request, principal: UserPrincipal) -> Response | None:
    """Refuse a change from another site, from an organisation's session, or without write:alerts."""
    if cross_site(request):
        return render_error(
            request, 403, "Changes must come from this site's own forms.", principal=principal
        )
    refused = platform_only(request, principal)
    if refused is not None:
        return refused
    if scopes.WRITE_ALERTS not in principal.scopes:
        raise Forbidden(f"changing alerts needs a token with the {scopes.WRITE_ALERTS} scope")
    return None


@router.get(PAGE, response_class=HTMLResponse)
async def platform_alerts(
    request: Request,
    session: ReadSession,
    principal: Viewer,
    now: Now,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """The platform's silences, over every organisation."""
    return await show_page(request, session, principal, now, notice=NOTICES.get(done or ""))


@router.post(PAGE + "silences", response_class=HTMLResponse)
async def add_silence(
    request: Request, db: Db, principal: Viewer, now: Now, settings: AppSettings
) -> Response:
    """Add a platform silence: matchers, a start (blank: now), an end or a duration, a comment."""
    refused = guard(request, principal)
    if refused is not None:
        return refused
    form = await read_form(request)
    fields = {k: (form.get(k) or [""])[0] for k in SILENCE_FIELDS}
    try:
        body = SilenceCreate(**silence_forms.silence_body(fields, now))
        async with db.session(write=True) as session:
            await silences_router.add_platform_silence(
                session, principal, body, now, settings.alerts_max_silences_per_org
            )
    except (silence_forms.FormError, ValidationError, AppError) as exc:
        message = refusal(exc)
        if message is None:
            raise
        async with db.session() as session:
            return await show_page(
                request, session, principal, now, status_code=422, message=message, silence_form=fields
            )
    return RedirectResponse(PAGE + "?done=silence-added", status_code=303)


@router.post(PAGE + "silences/{silence_id}/expire")
async def expire_silence(
    request: Request, silence_id: SilenceId, db: Db, principal: Viewer, now: Now
) -> Response:
    """Expire a platform silence now (the API keeps it listed as expired)."""
    refused = guard(request, principal)
    if refused is not None:
        return refused
    async with db.session(write=True) as session:
        await silences_router.end_platform_silence(session, principal, silence_id, now)
    return RedirectResponse(PAGE + "?done=silence-expired", status_code=303)
