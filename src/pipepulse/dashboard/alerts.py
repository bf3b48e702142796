"""The organisation's Alerts page: channels, rules and the delivery log (SPEC §7.3).

Everyone signed in may look; changes need a token with ``write:alerts``. Every change is a
form POST from this site only (the same-origin check of the sign-in form, beside the session
cookie's SameSite=Strict), answered by a redirect back to the page, except two that must say
something once: a new webhook's signing secret and a test send's outcome, rendered in place.
The pages call the same services as the JSON API; what the page shows is assembled in
``dashboard/alerts_view.py``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts import service as alerts_service
from pipepulse.alerts.schemas import RULE_EVENTS, ChannelCreate, RuleCreate, field_of
from pipepulse.auth import scopes
from pipepulse.auth.principals import UserPrincipal
from pipepulse.dashboard import silence_forms
from pipepulse.dashboard.alerts_view import EVENT_WORDS, alerts_page
from pipepulse.dashboard.rendering import DashboardRoute, render, render_error
from pipepulse.dashboard.sign_in import MAX_FORM_BYTES, Viewer, cross_site
from pipepulse.db.session import Database
from pipepulse.delivery import channels
from pipepulse.deps import AppSettings, Now, ReadSession, get_database
from pipepulse.errors import AppError, Forbidden
from pipepulse.organisations import service as organisations_service
from pipepulse.schemas import OrganisationPk

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, tags=["dashboard"])
Db = Annotated[Database, Depends(get_database)]

NOTICES = {
    "channel-deleted": "The channel, its rules and its delivery log were deleted.",
    "rule-added": "The rule was added.",
    "rule-deleted": "The rule was deleted.",
    "silence-added": "The silence was added.",
    "silence-expired": "The silence was expired.",
    "window-added": "The maintenance window was added.",
    "window-deleted": "The maintenance window was deleted.",
}


def page_path(organisation_id: int) -> str:
    return f"/orgs/{organisation_id}/alerts/"


async def show_page(
    request: Request,
    session: AsyncSession,
    principal: UserPrincipal,
    organisation_id: int,
    now: datetime,
    *,
    status_code: int = 200,
    notice: str | None = None,
    message: str | None = None,
    secret: str | None = None,
    form: dict[str, Any] | None = None,
    silence_form: dict[str, str] | None = None,
    window_form: dict[str, Any] | None = None,
) -> HTMLResponse:
    page = await alerts_page(session, principal, organisation_id)
    silences = await silence_forms.panel(session, page.organisation.id, now)
    return render(
        request,
        "alerts.html",
        status_code=status_code,
        principal=principal,
        page=page,
        now=now,
        notice=notice,
        message=message,
        secret=secret,
        form=form or {},
        event_words=EVENT_WORDS,
        rule_events=RULE_EVENTS,
        silences=silences,
        silence_form=silence_form or {},
        window_form=window_form or {},
        weekday_names=silence_forms.WEEKDAYS,
        show_matcher=silence_forms.show_matcher,
    )


async def read_form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    return parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))


def guard(request: Request, principal: UserPrincipal, organisation_id: int) -> Response | None:
    """Refuse a change from another site, or from a token that may not make it."""
    if cross_site(request):
        return render_error(
            request, 403, "Changes must come from this site's own forms.", principal=principal
        )
    if not principal.can_see(organisation_id):
        return render_error(request, 404, "There is no such page.", principal=principal)
    if scopes.WRITE_ALERTS not in principal.scopes:
        raise Forbidden(f"changing alerts needs a token with the {scopes.WRITE_ALERTS} scope")
    return None


def channel_fields(form: dict[str, str]) -> dict[str, Any]:
    """The create-channel body from the form: name, kind and the one field that kind needs (the
    form holds every kind's field; those of other kinds are left out, filled or not)."""
    kind = form.get("kind", "")
    needs = field_of(kind)
    body: dict[str, Any] = {"name": form.get("name", ""), "kind": kind}
    value = form.get(needs, "").strip()
    if needs == "to":
        body["to"] = [a for a in re.split(r"[\s,;]+", value) if a] if value else None
    else:
        body[needs] = value or None
    return body


def first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error.get("loc", ()))
    return f"{field}: {error.get('msg', 'invalid')}" if field else str(error.get("msg", "invalid"))


def refusal(exc: Exception) -> str | None:
    """The message for a refused field, or None for an error that is not the form's fault."""
    if isinstance(exc, silence_forms.FormError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return first_error(exc)
    if isinstance(exc, AppError) and exc.status_code == 422:
        return exc.detail
    return None


@router.get("/orgs/{organisation_pk}/alerts/", response_class=HTMLResponse)
async def alerts(
    request: Request,
    organisation_pk: OrganisationPk,
    session: ReadSession,
    principal: Viewer,
    now: Now,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Channels, rules and the delivery log of an organisation."""
    return await show_page(request, session, principal, organisation_pk, now, notice=NOTICES.get(done or ""))


@router.post("/orgs/{organisation_pk}/alerts/channels", response_class=HTMLResponse)
async def add_channel(
    request: Request,
    organisation_pk: OrganisationPk,
    db: Db,
    principal: Viewer,
    now: Now,
    settings: AppSettings,
) -> Response:
    """Add a channel; a webhook's signing secret is shown on the page this once."""
    refused = guard(request, principal, organisation_pk)
    if refused is not None:
        return refused
    form = await read_form(request)
    fields = {k: (form.get(k) or [""])[0] for k in ("name", "kind", "url", "routing_key", "to")}
    message = None
    channel = None
    try:
        body = ChannelCreate(**channel_fields(fields))
        async with db.session(write=True) as session:
            channel = await alerts_service.create_channel(
                session,
                principal,
                organisation_pk,
                body,
                now,
                allow_private=settings.alerts_allow_private_urls,
            )
    except ValidationError as exc:
        message = first_error(exc)
    except AppError as exc:
        if exc.status_code != 422:
            raise
        message = exc.detail
    async with db.session() as session:
        if channel is None:
            return await show_page(
                request,
                session,
                principal,
                organisation_pk,
                now,
                status_code=422,
                message=message,
                form=fields,
            )
        notice = f"Channel “{channel.name}” added."
        return await show_page(
            request, session, principal, organisation_pk, now, notice=notice, secret=channel.signing_secret
        )


@router.post("/orgs/{organisation_pk}/alerts/channels/{channel_id}/test", response_class=HTMLResponse)
async def test_channel(
    request: Request,
    organisation_pk: OrganisationPk,
    channel_id: str,
    db: Db,
    principal: Viewer,
    now: Now,
    settings: AppSettings,
) -> Response:
    """Send a test notification now and say how it went."""
    refused = guard(request, principal, organisation_pk)
    if refused is not None:
        return refused
    async with db.session() as session:
        organisation = await organisations_service.get_visible(session, principal, organisation_pk)
        channel = await alerts_service.get_channel(session, principal, organisation_pk, channel_id)
    request.app.state.test_send_limit.take(organisation.id, channel.id, now)
    outcome = await alerts_service.test_channel(
        db,
        organisation,
        channel,
        now,
        public_url=settings.public_url,
        options=channels.options_from(settings),
    )
    async with db.session() as session:
        if outcome.delivered:
            return await show_page(
                request,
                session,
                principal,
                organisation_pk,
                now,
                notice=f"Test delivered to “{channel.name}” (HTTP {outcome.status_code}).",
            )
        return await show_page(
            request,
            session,
            principal,
            organisation_pk,
            now,
            message=f"Test not delivered to “{channel.name}”: {outcome.error}",
        )


@router.post("/orgs/{organisation_pk}/alerts/channels/{channel_id}/delete")
async def delete_channel(
    request: Request, organisation_pk: OrganisationPk, channel_id: str, db: Db, principal: Viewer
) -> Response:
    """Delete a channel with its rules and log."""
    refused = guard(request, principal, organisation_pk)
    if refused is not None:
        return refused
    async with db.session(write=True) as session:
        await alerts_service.delete_channel(session, principal, organisation_pk, channel_id)
    return RedirectResponse(page_path(organisation_pk) + "?done=channel-deleted", status_code=303)


def _whole_number(text: str) -> int | str:
    """A form's digits as the number the API takes; anything else is left for the model to refuse."""
    return int(text) if text.isascii() and text.isdigit() else text


@router.post("/orgs/{organisation_pk}/alerts/rules", response_class=HTMLResponse)
async def add_rule(
    request: Request, organisation_pk: OrganisationPk, db: Db, principal: Viewer, now: Now
) -> Response:
    """Add a rule."""
    refused = guard(request, principal, organisation_pk)
    if refused is not None:
        return refused
    form = await read_form(request)
    chosen = [c for c in form.get("connection_ids", []) if c]
    fields: dict[str, Any] = {
        "channel_id": (form.get("channel_id") or [""])[0],
        "events": form.get("events", []),
        "connection_ids": chosen or None,
        "min_duration_seconds": _whole_number((form.get("min_duration_seconds") or ["0"])[0] or "0"),
    }
    try:
        body = RuleCreate(**fields)
        async with db.session(write=True) as session:
            await alerts_service.create_rule(session, principal, organisation_pk, body, now)
    except (ValidationError, AppError) as exc:
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
                form=fields,
            )
    return RedirectResponse(page_path(organisation_pk) + "?done=rule-added", status_code=303)


@router.post("/orgs/{organisation_pk}/alerts/rules/{rule_id}/delete")
async def delete_rule(
    request: Request, organisation_pk: OrganisationPk, rule_id: str, db: Db, principal: Viewer
) -> Response:
    """Delete a rule."""
    refused = guard(request, principal, organisation_pk)
    if refused is not None:
        return refused
    async with db.session(write=True) as session:
        await alerts_service.delete_rule(session, principal, organisation_pk, rule_id)
    return RedirectResponse(page_path(organisation_pk) + "?done=rule-deleted", status_code=303)
