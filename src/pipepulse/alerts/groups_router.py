"""``GET /organisations/{pk}/alert-groups/`` (SPEC §7.4): the groups with their alerts; and
``GET /platform/alert-groups/``, the platform rules' groups (platform tokens only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts import group_look
from pipepulse.alerts import groups as groups_service
from pipepulse.alerts import service as alerts_service
from pipepulse.alerts.repository import Scope, in_scope
from pipepulse.auth import scopes
from pipepulse.auth.dependencies import user
from pipepulse.auth.principals import UserPrincipal
from pipepulse.db.models import Alert, AlertGroup, MaintenanceWindow, Silence
from pipepulse.delivery import group_bodies
from pipepulse.deps import Now, ReadSession
from pipepulse.organisations import service as organisations_service
from pipepulse.schemas import API_PREFIX, OrganisationPk, Page, PageNumber, PageSize, Timestamp

router = APIRouter(prefix=API_PREFIX, tags=["alerts"])
Reader = Annotated[UserPrincipal, Depends(user(scopes.READ_PIPELINE_METRICS))]


class AlertConnection(BaseModel):
    id: str
    name: str
    type: str


class AlertReason(BaseModel):
    code: str | None = None
    text: str | None = None
    runs: list[str] | None = None


class AlertOut(BaseModel):
    labels: dict[str, str]
    started_at: Timestamp
    ended_at: Timestamp | None
    from_: str | None = Field(alias="from", serialization_alias="from")
    reason: AlertReason | None
    silenced_by: list[str] = Field(description="Silences and maintenance windows that match the alert now.")
    connection: AlertConnection


class AlertGroupOut(BaseModel):
    id: str
    rule_id: str
    channel_id: str
    key: dict[str, str]
    state: str
    first_fired_at: Timestamp
    last_notified_at: Timestamp | None
    closed_at: Timestamp | None
    acknowledged_by: str | None
    acknowledged_at: Timestamp | None
    acknowledge_comment: str | None
    counts: dict[str, int]
    alerts: list[AlertOut]


@router.get("/organisations/{organisation_pk}/alert-groups/", response_model=Page[AlertGroupOut])
async def list_groups(
    organisation_pk: OrganisationPk,
    session: ReadSession,
    principal: Reader,
    now: Now,
    state: Annotated[
        Literal["open", "closed"] | None, Query(description="Only groups in this state.")
    ] = None,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> Page[AlertGroupOut]:
    """The organisation's alert groups, newest first, each with its alerts (at most 100 listed)."""
    await organisations_service.get_visible(session, principal, organisation_pk)
    return await groups_page(session, organisation_pk, now, state, page, size)


StateQuery = Annotated[Literal["open", "closed"] | None, Query(description="Only groups in this state.")]


@router.get("/platform/alert-groups/", response_model=Page[AlertGroupOut])
async def list_platform_groups(
    session: ReadSession,
    principal: Reader,
    now: Now,
    state: StateQuery = None,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> Page[AlertGroupOut]:
    """The platform rules' alert groups, newest first, each with its alerts (platform tokens only)."""
    await alerts_service.check_scope(session, principal, None)
    return await groups_page(session, None, now, state, page, size)


async def groups_page(
    session: AsyncSession, scope: Scope, now: datetime, state: str | None, page: int, size: int
) -> Page[AlertGroupOut]:
    """One page of a scope's groups; each alert's ``silenced_by`` from its own organisation's
    silences and windows and the platform's (a platform group holds alerts of many)."""
    g = AlertGroup
    where = [in_scope(g.organisation_id, scope)] + ([g.state == state] if state else [])
    total = int(await session.scalar(select(func.count()).select_from(g).where(*where)) or 0)
    rows = (
        await session.execute(
            select(g)
            .where(*where)
            .order_by(g.first_fired_at.desc(), g.id)
            .offset((page - 1) * size)
            .limit(size)
        )
    ).scalars()
    items = []
    silencers: dict[int, tuple[list[Silence], list[MaintenanceWindow]]] = {}
    for group in rows:
        alerts = list(
            (
                await session.execute(
                    select(Alert).where(Alert.group_id == group.id).order_by(Alert.started_at, Alert.id)
                )
            ).scalars()
        )
        for organisation_id in {a.organisation_id for a in alerts} - set(silencers):
            silencers[organisation_id] = await groups_service.silencers(session, organisation_id)
        firing = sum(1 for a in alerts if a.ended_at is None)
        ordered = [
            AlertOut.model_validate(
                {
                    "labels": a.labels,
                    "started_at": a.started_at,
                    "ended_at": a.ended_at,
                    "from": a.from_status,
                    "reason": a.reason,
                    "silenced_by": group_look.silenced_by(a.labels, *silencers[a.organisation_id], now)
                    if a.ended_at is None
                    else [],
                    "connection": a.connection,
                }
            )
            for a in sorted(alerts, key=lambda a: (a.ended_at is not None, a.started_at, a.id))
        ]
        items.append(
            AlertGroupOut(
                id=group.id,
                rule_id=group.rule_id,
                channel_id=group.channel_id,
                key=group.key,
                state=group.state,
                first_fired_at=group.first_fired_at,
                last_notified_at=group.last_notified_at,
                closed_at=group.closed_at,
                acknowledged_by=group.acknowledged_by,
                acknowledged_at=group.acknowledged_at,
                acknowledge_comment=group.acknowledge_comment,
                counts={"firing": firing, "resolved": len(alerts) - firing},
                alerts=ordered[: group_bodies.MAX_LISTED],
            )
        )
    return Page.of(items, page=page, size=size, total=total)
