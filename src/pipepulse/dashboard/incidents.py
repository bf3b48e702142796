"""The organisation's Incidents page (SPEC §7.7): open and recent alert groups — what, how many
connections, since when, acknowledged by whom, silenced — and a page per group listing its
alerts. Calls the same reads as ``GET …/alert-groups/``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.dashboard.rendering import DashboardRoute, render, render_error
from pipepulse.dashboard.sign_in import Viewer
from pipepulse.db.models import Alert, AlertGroup, Organisation
from pipepulse.deps import Now, ReadSession
from pipepulse.schemas import OrganisationPk
from pipepulse.watch.alerts import group_bodies
from pipepulse.watch.alerts import groups as groups_service

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
    organisation_id: int,
    now: datetime,
    *,
    only_open: bool = False,
    group_id: str | None = None,
) -> list[GroupRow]:
    g = AlertGroup
    query = select(g).where(g.organisation_id == organisation_id)
    if only_open:
        query = query.where(g.state == "open")
    if group_id is not None:
        query = query.where(g.id == group_id)
    groups = (
        await session.execute(query.order_by(g.state.desc(), g.first_fired_at.desc()).limit(RECENT))
    ).scalars()
    found, windows = await groups_service.silencers(session, organisation_id)
    out = []
    for group in groups:
        alerts = list(
            (
                await session.execute(
                    select(Alert)
                    .where(Alert.group_id == group.id)
                    .order_by(Alert.ended_at.is_not(None), Alert.started_at)
                )
            ).scalars()
        )
        marked = [
            (a, groups_service.silenced_by(a.labels, found, windows, now) if a.ended_at is None else [])
            for a in alerts
        ]
        firing = sum(1 for a in alerts if a.ended_at is None)
        payload = {
            "status": "firing" if firing else "resolved",
            "counts": {"firing": firing, "resolved": len(alerts) - firing},
            "alerts": [{"labels": a.labels, "reason": a.reason} for a in alerts],
            "group": {"key": group.key},
        }
        headline, _ = group_bodies.summary(payload)
        out.append(
            GroupRow(group, firing, len(alerts) - firing, sum(1 for _, s in marked if s), headline, marked)
        )
    return out


@router.get("/orgs/{organisation_pk}/incidents/", response_class=HTMLResponse)
async def incidents(
    request: Request, organisation_pk: OrganisationPk, session: ReadSession, principal: Viewer, now: Now
) -> Response:
    """Open and recent alert groups of an organisation."""
    organisation = await session.get(Organisation, organisation_pk)
    if organisation is None or not principal.can_see(organisation_pk):
        return render_error(request, 404, "There is no such page.", principal=principal)
    rows = await group_rows(session, organisation_pk, now)
    return render(
        request, "incidents.html", principal=principal, org=organisation, rows=rows, group=None, now=now
    )


@router.get("/orgs/{organisation_pk}/incidents/{group_id}/", response_class=HTMLResponse)
async def incident(
    request: Request,
    organisation_pk: OrganisationPk,
    group_id: GroupId,
    session: ReadSession,
    principal: Viewer,
    now: Now,
) -> Response:
    """One alert group and its alerts."""
    organisation = await session.get(Organisation, organisation_pk)
    if organisation is None or not principal.can_see(organisation_pk):
        return render_error(request, 404, "There is no such page.", principal=principal)
    rows = await group_rows(session, organisation_pk, now, group_id=group_id)
    if not rows:
        return render_error(request, 404, "There is no such incident.", principal=principal)
    return render(
        request, "incidents.html", principal=principal, org=organisation, rows=rows, group=rows[0], now=now
    )
