"""Organisation integration health (SPEC §4.4), by organisation id and by slug."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from pipepulse.auth.dependencies import Reader
from pipepulse.deps import AppSettings, Now, ReadSession
from pipepulse.health import service as health
from pipepulse.health.schemas import OrganisationHealth
from pipepulse.organisations import service as organisations_service
from pipepulse.schemas import API_PREFIX, OrganisationPk

router = APIRouter(prefix=API_PREFIX, tags=["organisation health"])
Days = Annotated[int, Query(ge=1, le=365, description="Lookback window in days (1 to 365).")]
Slug = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,64}$", description="The organisation's slug.")]


@router.get("/organisations/{organisation_pk}/integration-health/", response_model=OrganisationHealth)
async def get_organisation_health(
    request: Request,
    organisation_pk: OrganisationPk,
    session: ReadSession,
    principal: Reader,
    now: Now,
    settings: AppSettings,
    days: Days = 30,
) -> OrganisationHealth:
    """Health of all of an organisation's integrations over the last `days` days."""
    organisation = await organisations_service.get_visible(session, principal, organisation_pk)
    return await health.organisation_health(
        session, organisation, now, days, settings.thresholds, request.app.state.closed_hours
    )


@router.get("/spaces/{slug}/integration-health", response_model=OrganisationHealth)
async def get_space_health(
    request: Request,
    slug: Slug,
    session: ReadSession,
    principal: Reader,
    now: Now,
    settings: AppSettings,
    days: Days = 30,
) -> OrganisationHealth:
    """The same health summary, addressed by the organisation's slug (the space id)."""
    organisation = await organisations_service.get_visible_by_slug(session, principal, slug)
    return await health.organisation_health(
        session, organisation, now, days, settings.thresholds, request.app.state.closed_hours
    )
