"""Organisations (tenants) and what a principal may see of them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth.principals import UserPrincipal
from pipepulse.db.models import Organisation
from pipepulse.errors import Conflict, Invalid, NotFound
from pipepulse.organisations import repository

SLUG = re.compile(r"^[a-z0-9-]{1,64}$")


async def create(session: AsyncSession, *, slug: str, name: str, now: datetime) -> Organisation:
    if not SLUG.fullmatch(slug):
        raise Invalid(f"slug {slug!r} must match [a-z0-9-]{{1,64}}", loc=("body", "slug"))
    if not name.strip() or len(name) > 200:
        raise Invalid("name must be 1 to 200 characters", loc=("body", "name"))
    org = Organisation(slug=slug, name=name.strip(), created_at=now)
    try:
        await repository.add(session, org)
    except IntegrityError:
        raise Conflict(f"an organisation with slug {slug!r} already exists") from None
    return org


async def by_slug(session: AsyncSession, slug: str) -> Organisation | None:
    return await repository.by_slug(session, slug)


async def get_visible(session: AsyncSession, principal: UserPrincipal, organisation_id: int) -> Organisation:
    """The organisation, or 404 if it does not exist or the token may not see it."""
    if not principal.can_see(organisation_id):
        raise NotFound("organisation not found")
    org = await repository.get(session, organisation_id)
    if org is None:
        raise NotFound("organisation not found")
    return org


async def get_visible_by_slug(session: AsyncSession, principal: UserPrincipal, slug: str) -> Organisation:
    org = await by_slug(session, slug)
    if org is None or not principal.can_see(org.id):
        raise NotFound("organisation not found")
    return org


async def list_visible(
    session: AsyncSession, principal: UserPrincipal, *, offset: int, limit: int
) -> tuple[Sequence[Organisation], int]:
    return await repository.page(session, only=principal.organisation_id, offset=offset, limit=limit)
