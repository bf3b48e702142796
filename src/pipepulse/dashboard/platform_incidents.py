"""The platform Incidents page (SPEC §7.7): every organisation's open alert groups, what fires in
them, and the counts by organisation, destination type and fingerprint. Platform tokens only;
each group links to its organisation's Incidents page, and may be acknowledged from here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth import scopes
from pipepulse.auth.principals import UserPrincipal
from pipepulse.dashboard import fleet, incidents
from pipepulse.dashboard.rendering import DashboardRoute, render
from pipepulse.dashboard.sign_in import Viewer, platform_only
from pipepulse.db.models import AlertGroup, Organisation
from pipepulse.deps import Now, ReadSession

router = APIRouter(route_class=DashboardRoute, include_in_schema=False, tags=["dashboard"])
PAGE = "/platform/incidents/"
# Open groups listed; a fleet with more says how many it leaves out.
OPEN_GROUPS = 200


def firing_of(rows: list[incidents.GroupRow]) -> list[fleet.Firing]:
    return [
        fleet.Firing(
            organisation_id=alert.organisation_id,
            group_id=row.group.id,
            connection_id=alert.connection_id,
            connection_name=str(alert.connection.get("name") or alert.connection_id),
            condition=alert.condition,
            destination=alert.labels.get("type", ""),
            fingerprint=alert.labels.get("fingerprint", ""),
            reason=str((alert.reason or {}).get("text") or ""),
            started_at=alert.started_at,
            silenced=bool(silenced),
        )
        for row in rows
        for alert, silenced in row.alerts
        if alert.ended_at is None
    ]


async def show_page(
    request: Request,
    session: AsyncSession,
    principal: UserPrincipal,
    now: datetime,
    *,
    status_code: int = 200,
    notice: str | None = None,
    message: str | None = None,
) -> HTMLResponse | Response:
    refused = platform_only(request, principal)
    if refused is not None:
        return refused
    rows = await incidents.group_rows(session, None, now, only_open=True, limit=OPEN_GROUPS)
    total = int(
        await session.scalar(select(func.count()).select_from(AlertGroup).where(AlertGroup.state == "open"))
        or 0
    )
    names = dict(
        (
            await session.execute(
                select(Organisation.id, Organisation.name).where(
                    Organisation.id.in_({a.organisation_id for r in rows for a, _ in r.alerts})
                )
            )
        ).all()
    )
    return render(
        request,
        "platform_incidents.html",
        status_code=status_code,
        principal=principal,
        rows=rows,
        total=total,
        names=names,
        counts=fleet.fleet_counts(firing_of(rows)),
        platform_groups={r.group.id for r in rows if r.group.organisation_id is None},
        now=now,
        can_change=scopes.WRITE_ALERTS in principal.scopes,
        notice=notice,
        message=message,
    )


@router.get(PAGE, response_class=HTMLResponse)
async def platform_incidents(
    request: Request,
    session: ReadSession,
    principal: Viewer,
    now: Now,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Every organisation's open alert groups, for the platform team."""
    return await show_page(request, session, principal, now, notice=incidents.NOTICES.get(done or ""))
