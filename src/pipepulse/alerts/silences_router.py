"""Silences, maintenance windows and acknowledgement (SPEC §7.4), per organisation and, for
silences, at platform scope (``/platform/silences/``, seen by platform tokens only)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts import groups as alert_groups
from pipepulse.alerts import maintenance, matchers, silences
from pipepulse.alerts import service as alerts_service
from pipepulse.auth import scopes
from pipepulse.auth.dependencies import user
from pipepulse.auth.principals import UserPrincipal
from pipepulse.db import dialect
from pipepulse.db.models import AlertGroup, ApiToken, MaintenanceWindow, Silence
from pipepulse.deps import AppSettings, Now, ReadSession, WriteSession
from pipepulse.errors import Conflict, Invalid, NotFound
from pipepulse.organisations import service as organisations_service
from pipepulse.schemas import API_PREFIX, OrganisationPk, StrictModel, Timestamp

router = APIRouter(prefix=API_PREFIX, tags=["alerts"])
Reader = Annotated[UserPrincipal, Depends(user(scopes.READ_PIPELINE_METRICS))]
Writer = Annotated[UserPrincipal, Depends(user(scopes.WRITE_ALERTS, write=True))]
ORG = "/organisations/{organisation_pk}"
SilenceId = Annotated[str, Path(pattern=r"^sil_[0-9a-f]{16}$", description="The silence id, sil_….")]
WindowId = Annotated[str, Path(pattern=r"^mtw_[0-9a-f]{16}$", description="The window id, mtw_….")]
GroupId = Annotated[str, Path(pattern=r"^agr_[0-9a-f]{24}$", description="The group id, agr_….")]
Matchers = Annotated[
    dict[str, Annotated[str, Field(max_length=500)]],
    Field(
        min_length=1,
        max_length=20,
        description='{label: value}; a value may start with "!=", "=~" or "!~" (Alertmanager matchers).',
    ),
]
Comment = Annotated[str, Field(max_length=2000)]


class SilenceCreate(StrictModel):
    matchers: Matchers
    starts_at: Timestamp
    ends_at: Timestamp
    comment: Comment = ""


class SilenceOut(BaseModel):
    id: str
    organisation_id: int | None
    matchers: dict[str, str]
    starts_at: Timestamp
    ends_at: Timestamp
    comment: str
    created_by: str | None
    created_at: Timestamp
    state: Literal["pending", "active", "expired"]


class WindowCreate(StrictModel):
    matchers: Matchers
    time_zone: Annotated[str, Field(max_length=64, description="An IANA time zone, e.g. Europe/Berlin.")]
    weekdays: Annotated[list[int], Field(min_length=1, max_length=7, description="0-6, Monday 0.")]
    start: Annotated[str, Field(description="Local start time, HH:MM.")]
    duration_minutes: int
    comment: Comment = ""


class WindowOut(BaseModel):
    id: str
    organisation_id: int | None
    matchers: dict[str, str]
    time_zone: str
    weekdays: list[int]
    start: str
    duration_minutes: int
    comment: str
    created_at: Timestamp
    active: bool
    next_start: Timestamp | None
    next_end: Timestamp | None


class Acknowledge(StrictModel):
    comment: Comment = ""


class Acknowledged(BaseModel):
    id: str
    acknowledged_by: str
    acknowledged_at: Timestamp
    acknowledge_comment: str


def _matchers(raw: dict[str, str]) -> dict[str, str]:
    try:
        matchers.parse(raw)
    except matchers.InvalidMatcher as exc:
        raise Invalid(str(exc), loc=("body", "matchers")) from None
    return dict(raw)


def silence_out(s: Silence, now: datetime) -> SilenceOut:
    starts, ends = dialect.as_utc(s.starts_at), dialect.as_utc(s.ends_at)
    assert starts is not None
    assert ends is not None
    return SilenceOut(
        id=s.id,
        organisation_id=s.organisation_id,
        matchers=s.matchers,
        starts_at=starts,
        ends_at=ends,
        comment=s.comment,
        created_by=s.created_by,
        created_at=s.created_at,
        state=silences.state(silences.Silence(s.id, s.matchers, starts, ends), now),
    )


def window_out(w: MaintenanceWindow, now: datetime) -> WindowOut:
    upcoming = maintenance.next_occurrence(w, now)
    return WindowOut(
        id=w.id,
        organisation_id=w.organisation_id,
        matchers=w.matchers,
        time_zone=w.time_zone,
        weekdays=list(w.weekdays),
        start=w.start,
        duration_minutes=w.duration_minutes,
        comment=w.comment,
        created_at=w.created_at,
        active=maintenance.occurrence_at(w, now) is not None,
        next_start=upcoming[0] if upcoming else None,
        next_end=upcoming[1] if upcoming else None,
    )


async def _token_name(session: AsyncSession, principal: UserPrincipal) -> str:
    name = await session.scalar(select(ApiToken.name).where(ApiToken.id == principal.token_id))
    return str(name or principal.token_id)


async def _create_silence(
    session: AsyncSession,
    principal: UserPrincipal,
    org: int | None,
    body: SilenceCreate,
    now: datetime,
    bound: int,
) -> SilenceOut:
    if body.ends_at <= body.starts_at or body.ends_at <= now:
        raise Invalid("ends_at must lie after starts_at and in the future", loc=("body", "ends_at"))
    s = Silence
    live = await session.scalar(
        select(func.count())
        .select_from(s)
        .where(s.organisation_id.is_(None) if org is None else s.organisation_id == org, s.ends_at > now)
    )
    if int(live or 0) >= bound:
        raise Invalid(
            f"there are already {bound} silences that have not expired, the most "
            "PIPEPULSE_ALERTS_MAX_SILENCES_PER_ORG allows; expire one first"
        )
    row = Silence(
        id=f"sil_{secrets.token_hex(8)}",
        organisation_id=org,
        matchers=_matchers(body.matchers),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        comment=body.comment,
        created_by=await _token_name(session, principal),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    # The groups it may cover look again: at once, and when it begins and ends.
    await alert_groups.wake_open(session, org)
    return silence_out(row, now)


async def create_organisation_silence(
    session: AsyncSession,
    principal: UserPrincipal,
    organisation_id: int,
    body: SilenceCreate,
    now: datetime,
    bound: int,
) -> SilenceOut:
    """A silence of one organisation, as ``POST …/silences/`` makes it (the demo makes one)."""
    return await _create_silence(session, principal, organisation_id, body, now, bound)


async def _list_silences(
    session: AsyncSession, org: int | None, state: str | None, now: datetime
) -> list[SilenceOut]:
    s = Silence
    rows = (
        await session.execute(
            select(s)
            .where(s.organisation_id.is_(None) if org is None else s.organisation_id == org)
            .order_by(s.starts_at.desc(), s.id)
        )
    ).scalars()
    out = [silence_out(x, now) for x in rows]
    return [x for x in out if state is None or x.state == state]


async def _expire(session: AsyncSession, org: int | None, silence_id: str, now: datetime) -> None:
    row = await session.get(Silence, silence_id)
    if row is None or row.organisation_id != org:
        raise NotFound("silence not found")
    if dialect.as_utc(row.ends_at) > now:  # type: ignore[operator]
        row.ends_at = now
        if dialect.as_utc(row.starts_at) > now:  # type: ignore[operator]
            row.starts_at = now
        await alert_groups.wake_open(session, org)
    await session.flush()


async def organisation_silences(
    session: AsyncSession, organisation_id: int, state: str | None, now: datetime
) -> list[SilenceOut]:
    """The organisation's silences, newest start first (``GET …/silences/``)."""
    return await _list_silences(session, organisation_id, state, now)


async def expire_organisation_silence(
    session: AsyncSession, organisation_id: int, silence_id: str, now: datetime
) -> None:
    """Expire one of the organisation's silences now; another organisation's is not found."""
    await _expire(session, organisation_id, silence_id, now)


StateQuery = Annotated[Literal["active", "pending", "expired"] | None, Query(description="Only these.")]


@router.post(ORG + "/silences/", response_model=SilenceOut, status_code=201)
async def create_silence(
    organisation_pk: OrganisationPk,
    body: SilenceCreate,
    session: WriteSession,
    principal: Writer,
    now: Now,
    settings: AppSettings,
) -> SilenceOut:
    """Silence matching alerts from starts_at (may lie in the past) until ends_at."""
    await organisations_service.get_visible(session, principal, organisation_pk)
    return await _create_silence(
        session, principal, organisation_pk, body, now, settings.alerts_max_silences_per_org
    )


@router.get(ORG + "/silences/", response_model=list[SilenceOut])
async def list_silences(
    organisation_pk: OrganisationPk,
    session: ReadSession,
    principal: Reader,
    now: Now,
    state: StateQuery = None,
) -> list[SilenceOut]:
    """The organisation's silences, newest start first."""
    await organisations_service.get_visible(session, principal, organisation_pk)
    return await _list_silences(session, organisation_pk, state, now)


@router.delete(ORG + "/silences/{silence_id}/", status_code=204)
async def expire_silence(
    organisation_pk: OrganisationPk, silence_id: SilenceId, session: WriteSession, principal: Writer, now: Now
) -> Response:
    """Expire a silence now (it stays listed, expired)."""
    await organisations_service.get_visible(session, principal, organisation_pk)
    await _expire(session, organisation_pk, silence_id, now)
    return Response(status_code=204)


async def add_platform_silence(
    session: AsyncSession, principal: UserPrincipal, body: SilenceCreate, now: datetime, bound: int
) -> SilenceOut:
    """A platform silence, over every organisation (``POST /platform/silences/`` and the platform
    Alerts page make it the same way)."""
    await alerts_service.check_scope(session, principal, None)
    return await _create_silence(session, principal, None, body, now, bound)


async def platform_silences(
    session: AsyncSession, principal: UserPrincipal, state: str | None, now: datetime
) -> list[SilenceOut]:
    """The platform's silences, newest start first."""
    await alerts_service.check_scope(session, principal, None)
    return await _list_silences(session, None, state, now)


async def end_platform_silence(
    session: AsyncSession, principal: UserPrincipal, silence_id: str, now: datetime
) -> None:
    """Expire a platform silence now; an organisation's silence is not found here."""
    await alerts_service.check_scope(session, principal, None)
    await _expire(session, None, silence_id, now)


@router.post("/platform/silences/", response_model=SilenceOut, status_code=201)
async def create_platform_silence(
    body: SilenceCreate, session: WriteSession, principal: Writer, now: Now, settings: AppSettings
) -> SilenceOut:
    """Silence matching alerts of every organisation (platform tokens only)."""
    return await add_platform_silence(session, principal, body, now, settings.alerts_max_silences_per_org)


@router.get("/platform/silences/", response_model=list[SilenceOut])
async def list_platform_silences(
    session: ReadSession, principal: Reader, now: Now, state: StateQuery = None
) -> list[SilenceOut]:
    """The platform's silences."""
    return await platform_silences(session, principal, state, now)


@router.delete("/platform/silences/{silence_id}/", status_code=204)
async def expire_platform_silence(
    silence_id: SilenceId, session: WriteSession, principal: Writer, now: Now
) -> Response:
    """Expire a platform silence now."""
    await end_platform_silence(session, principal, silence_id, now)
    return Response(status_code=204)


async def create_organisation_window(
    session: AsyncSession, organisation_id: int, body: WindowCreate, now: datetime
) -> WindowOut:
    """A maintenance window of one organisation, as ``POST …/maintenance-windows/`` makes it (the
    dashboard's form makes it the same way)."""
    try:
        maintenance.validate(body.time_zone, body.weekdays, body.start, body.duration_minutes)
    except maintenance.InvalidWindow as exc:
        raise Invalid(str(exc)) from None
    row = MaintenanceWindow(
        id=f"mtw_{secrets.token_hex(8)}",
        organisation_id=organisation_id,
        matchers=_matchers(body.matchers),
        time_zone=body.time_zone,
        weekdays=sorted(set(body.weekdays)),
        start=body.start,
        duration_minutes=body.duration_minutes,
        comment=body.comment,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    await alert_groups.wake_open(session, organisation_id)
    return window_out(row, now)


async def organisation_windows(session: AsyncSession, organisation_id: int, now: datetime) -> list[WindowOut]:
    """The organisation's maintenance windows, oldest id first."""
    w = MaintenanceWindow
    rows = (
        await session.execute(select(w).where(w.organisation_id == organisation_id).order_by(w.id))
    ).scalars()
    return [window_out(x, now) for x in rows]


async def delete_organisation_window(session: AsyncSession, organisation_id: int, window_id: str) -> None:
    """Delete one of the organisation's windows; another organisation's is not found."""
    row = await session.get(MaintenanceWindow, window_id)
    if row is None or row.organisation_id != organisation_id:
        raise NotFound("maintenance window not found")
    await session.delete(row)
    await session.flush()
    await alert_groups.wake_open(session, organisation_id)


@router.post(ORG + "/maintenance-windows/", response_model=WindowOut, status_code=201)
async def create_window(
    organisation_pk: OrganisationPk, body: WindowCreate, session: WriteSession, principal: Writer, now: Now
) -> WindowOut:
    """Silence matching alerts during every occurrence of a weekly local-time window."""
    await organisations_service.get_visible(session, principal, organisation_pk)
    return await create_organisation_window(session, organisation_pk, body, now)


@router.get(ORG + "/maintenance-windows/", response_model=list[WindowOut])
async def list_windows(
    organisation_pk: OrganisationPk, session: ReadSession, principal: Reader, now: Now
) -> list[WindowOut]:
    """The organisation's maintenance windows, with whether each holds now and its next occurrence."""
    await organisations_service.get_visible(session, principal, organisation_pk)
    return await organisation_windows(session, organisation_pk, now)


@router.delete(ORG + "/maintenance-windows/{window_id}/", status_code=204)
async def delete_window(
    organisation_pk: OrganisationPk, window_id: WindowId, session: WriteSession, principal: Writer
) -> Response:
    """Delete a maintenance window."""
    await organisations_service.get_visible(session, principal, organisation_pk)
    await delete_organisation_window(session, organisation_pk, window_id)
    return Response(status_code=204)


async def acknowledge_group(
    session: AsyncSession,
    principal: UserPrincipal,
    organisation_id: int | None,
    group_id: str,
    comment: str,
    now: datetime,
) -> AlertGroup:
    """Acknowledge one of the organisation's open groups (``organisation_id`` None: one of the
    platform rules' groups): no repeat notifications until it changes (``POST …/acknowledge``
    and the Incidents page's form make it the same way)."""
    await alerts_service.check_scope(session, principal, organisation_id)
    group = await session.get(AlertGroup, group_id)
    if group is None or group.organisation_id != organisation_id:
        raise NotFound("alert group not found")
    if group.state != "open":
        raise Conflict("the alert group is closed; only an open group can be acknowledged")
    group.acknowledged_by = await _token_name(session, principal)
    group.acknowledged_at = now
    group.acknowledge_comment = comment
    await session.flush()
    return group


@router.post(ORG + "/alert-groups/{group_id}/acknowledge", response_model=Acknowledged)
async def acknowledge(
    organisation_pk: OrganisationPk,
    group_id: GroupId,
    body: Acknowledge,
    session: WriteSession,
    principal: Writer,
    now: Now,
) -> Acknowledged:
    """Acknowledge a firing group: no repeat notifications until it changes."""
    group = await acknowledge_group(session, principal, organisation_pk, group_id, body.comment, now)
    return Acknowledged(
        id=group.id,
        acknowledged_by=group.acknowledged_by or "",
        acknowledged_at=now,
        acknowledge_comment=body.comment,
    )


@router.post("/platform/alert-groups/{group_id}/acknowledge", response_model=Acknowledged)
async def acknowledge_platform_group(
    group_id: GroupId, body: Acknowledge, session: WriteSession, principal: Writer, now: Now
) -> Acknowledged:
    """Acknowledge a firing group of a platform rule: no repeat notifications until it changes."""
    group = await acknowledge_group(session, principal, None, group_id, body.comment, now)
    return Acknowledged(
        id=group.id,
        acknowledged_by=group.acknowledged_by or "",
        acknowledged_at=now,
        acknowledge_comment=body.comment,
    )
