"""Organisations: reading one, listing them page by page, and the rules for creating one."""

from __future__ import annotations

import httpx
import pytest

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.db.session import Database
from pipepulse.errors import Conflict, Invalid
from pipepulse.organisations import service as organisations_service
from tests.conftest import FrozenClock, Tenant


async def test_get_organisation__own__id_slug_name(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(f"/api/v1/organisations/{tenant.id}/", headers=tenant.read)
    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("id", "slug", "name")} == {
        "id": tenant.id,
        "slug": "acme",
        "name": "Acme",
    }


async def test_list_organisations__platform_token_and_pages__every_one_once(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    async with db.session(write=True) as session:
        for slug in ("a-org", "b-org", "c-org"):
            await organisations_service.create(session, slug=slug, name=slug, now=clock.now)
        issued = await auth_service.create_token(
            session, organisation_id=None, scopes=[scopes.READ_PIPELINE_METRICS], name="p", now=clock.now
        )
    headers = {"Authorization": f"Bearer {issued.token}"}
    first = (await client.get("/api/v1/organisations/", params={"size": 2}, headers=headers)).json()
    second = (
        await client.get("/api/v1/organisations/", params={"size": 2, "page": 2}, headers=headers)
    ).json()
    assert (first["total"], first["has_next"], second["has_next"]) == (3, True, False)
    assert sorted(o["slug"] for o in first["items"] + second["items"]) == ["a-org", "b-org", "c-org"]


@pytest.mark.parametrize(
    ("slug", "name", "message"),
    [
        ("Not Valid", "x", "slug 'Not Valid' must match [a-z0-9-]{1,64}"),
        ("ok", "   ", "name must be 1 to 200 characters"),
        ("ok", "n" * 201, "name must be 1 to 200 characters"),
    ],
)
async def test_create_organisation__bad_slug_or_name__invalid_saying_what_to_fix(
    db: Database, clock: FrozenClock, slug: str, name: str, message: str
) -> None:
    async with db.session(write=True) as session:
        with pytest.raises(Invalid) as caught:
            await organisations_service.create(session, slug=slug, name=name, now=clock.now)
        assert caught.value.detail == message
        assert await organisations_service.by_slug(session, slug) is None


async def test_create_organisation__slug_taken__conflict_and_the_first_kept(
    db: Database, clock: FrozenClock
) -> None:
    async with db.session(write=True) as session:
        await organisations_service.create(session, slug="acme", name=" Acme Corp ", now=clock.now)
        with pytest.raises(Conflict, match="an organisation with slug 'acme' already exists"):
            await organisations_service.create(session, slug="acme", name="Other", now=clock.now)
        kept = await organisations_service.by_slug(session, "acme")
    assert kept is not None
    assert kept.name == "Acme Corp"
