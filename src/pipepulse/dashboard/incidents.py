"""The organisation's Incidents page (SPEC §7.7): open and recent alert groups — what, how many
connections, since when, acknowledged by whom, silenced — and a page per group listing its
alerts. Calls the same reads as ``GET …/alert-groups/``; the acknowledge form is in
``dashboard/acknowledgement.py``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts import group_look
from pipepulse.alerts import groups as groups_service
from pipepulse.auth import scopes
from pipepulse.auth.principals import UserPrincipal
from pipepulse.dashboard.rendering import DashboardRoute, render, render_error
from pipepulse.dashboard.sign_in import Viewer
from pipepulse.db.models import Alert, AlertGroup, Organisation
from pipepulse.delivery import group_bodies
from pipepulse.deps import Now, ReadSession
from pipepulse.schemas import OrganisationPk

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, tags=["dashboard"])
RECENT = 50
GroupId = Annotated[str, Path(pattern=r"^agr_[0-9a-f]{24}$")]


@dataclass(frozen=True)
class GroupRow:
    group: AlertGroup
    firing: int
    resolved: int
    silenced: int
    headline: str
    alerts: list[tuple[Alert, list[str]]]


async def group_rows(
    session: AsyncSession,
    organisation_id: int | None,
    now: datetime,
    *,
    only_open: bool = False,
    group_id: str | None = None,
    limit: int = RECENT,
) -> list[GroupRow]:
    """Groups newest first (open before closed), each with its alerts and which of them are
    silenced now; ``organisation_id`` None reads every organisation's (the platform page)."""
    g = AlertGroup
    query = select(g)
    if organisation_id is not None:
        query = query.where(g.organisation_id == organisation_id)
    if only_open:
        query = query.where(g.state == "open")
    if group_id is not None:
        query = query.where(g.id == group_id)
    groups = list(
        (
            await session.execute(query.order_by(g.state.desc(), g.first_fired_at.desc(), g.id).limit(limit))
        ).scalars()
    )
    if not groups:
        return []
    # One read for every listed group's alerts, however many groups the page lists.
    by_group: dict[str, list[Alert]] = defaultdict(list)
    alerts = await session.execute(
        select(Alert)
        .where(Alert.group_id.in_([x.id for x in groups]))
        .order_by(Alert.ended_at.is_not(None), Alert.started_at, Alert.id)
    )
    for alert in alerts.scalars():
        by_group[alert.group_id].append(alert)
    # Each alert's own organisation's silencers (a platform group holds alerts of many).
    silencers = await groups_service.silencers_of(
        session, {a.organisation_id for listed in by_group.values() for a in listed}
    )
    out = []
    for group in groups:
        listed = by_group[group.id]
        marked = [
            (
                a,
                group_look.silenced_by(a.labels, *silencers[a.organisation_id], now)
                if a.ended_at is None
                else [],
            )
            for a in listed
        ]
        firing = sum(1 for a in listed if a.ended_at is None)
        payload = {
            "status": "firing" if firing else "resolved",
            "counts": {"firing": firing, "resolved": len(listed) - firing},
            "alerts": [{"labels": a.labels, "reason": a.reason} for a in listed],
            "group": {"key": group.key},
        }
        headline, _ = group_bodies.summary(payload)
        out.append(
            GroupRow(group, firing, len(listed) - firing, sum(1 for _, s in marked if s), headline, marked)
        )
    return out


NOTICES = {"acknowledged": "The group was acknowledged: no repeat notifications until it changes."}


async def show_page(
    request: Request,
    session: AsyncSession,
    principal: UserPrincipal,
    organisation_pk: int,
    now: datetime,
    *,
    group_id: str | None = None,
    status_code: int = 200,
    notice: str | None = None,
    message: str | None = None,
    comment: str = "",
) -> HTMLResponse:
    """The organisation's Incidents page, or one group's page when ``group_id`` is given."""
    organisation = await session.get(Organisation, organisation_pk)
    if organisation is None or not principal.can_see(organisation_pk):
        return render_error(request, 404, "There is no such page.", principal=principal)
    rows = await group_rows(session, organisation_pk, now, group_id=group_id)
    if group_id is not None and not rows:
        return render_error(request, 404, "There is no such incident.", principal=principal)
    return render(
        request,
        "incidents.html",
        status_code=status_code,
        principal=principal,
        org=organisation,
        rows=rows,
        group=rows[0] if group_id is not None else None,
        now=now,
        can_change=scopes.WRITE_ALERTS in principal.scopes,
        notice=notice,
        message=message,
        comment=comment,
    )


@router.get("/orgs/{organisation_pk}/incidents/", response_class=HTMLResponse)
async def incidents(
    request: Request,
    organisation_pk: OrganisationPk,
    session: ReadSession,
    principal: Viewer,
    now: Now,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Open and recent alert groups of an organisation."""
    return await show_page(request, session, principal, organisation_pk, now, notice=NOTICES.get(done or ""))


@router.get("/orgs/{organisation_pk}/incidents/{group_id}/", response_class=HTMLResponse)
async def incident(
    request: Request,
    organisation_pk: OrganisationPk,
    group_id: GroupId,
    session: ReadSession,
    principal: Viewer,
    now: Now,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """One alert group and its alerts."""
    return await show_page(
        request, session, principal, organisation_pk, now, group_id=group_id, notice=NOTICES.get(done or "")
    )
