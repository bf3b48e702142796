from __future__ import annotations

from fastapi import APIRouter

from pipepulse.auth.dependencies import Reader
from pipepulse.deps import ReadSession
from pipepulse.organisations import service as organisations_service
from pipepulse.organisations.schemas import OrganisationOut
from pipepulse.schemas import API_PREFIX, OrganisationPk, Page, PageNumber, PageSize

router = APIRouter(prefix=API_PREFIX + "/organisations", tags=["organisations"])


@router.get("/", response_model=Page[OrganisationOut])
async def list_organisations(
    session: ReadSession,
    principal: Reader,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> Page[OrganisationOut]:
    """List the organisations this token may see."""
    rows, total = await organisations_service.list_visible(
        session, principal, offset=(page - 1) * size, limit=size
    )
    return Page.of([OrganisationOut.model_validate(r) for r in rows], page=page, size=size, total=total)


@router.get("/{organisation_pk}/", response_model=OrganisationOut)
async def get_organisation(
    organisation_pk: OrganisationPk, session: ReadSession, principal: Reader
) -> OrganisationOut:
    """Read one organisation."""
    org = await organisations_service.get_visible(session, principal, organisation_pk)
    return OrganisationOut.model_validate(org)
