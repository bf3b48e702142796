"""The endpoints of SPEC §7.4 across organisations: 404 as if missing; platform silences are
seen by platform tokens only."""

from __future__ import annotations

from datetime import timedelta

import httpx

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant, iso


async def test_tenancy__silences_windows_groups__foreign_404_platform_hidden(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database, clock: FrozenClock
) -> None:
    theirs = f"/api/v1/organisations/{other_tenant.id}"
    silence = {
        "matchers": {"condition": "error"},
        "starts_at": iso(clock.now),
        "ends_at": iso(clock.now + timedelta(hours=1)),
    }
    made = await client.post(f"{theirs}/silences/", json=silence, headers=other_tenant.write)
    assert made.status_code == 201
    window = {
        "matchers": {"condition": "error"},
        "time_zone": "UTC",
        "weekdays": [0],
        "start": "01:00",
        "duration_minutes": 30,
    }
    made_window = await client.post(f"{theirs}/maintenance-windows/", json=window, headers=other_tenant.write)
    assert made_window.status_code == 201

    for path in ("silences/", "maintenance-windows/", "alert-groups/"):
        response = await client.get(f"{theirs}/{path}", headers=tenant.read)
        assert (response.status_code, response.json()) == (404, {"detail": "organisation not found"}), path
        assert (await client.post(f"{theirs}/{path}", json={}, headers=tenant.write)).status_code in (
            404,
            405,
            422,
        )
    ours = f"/api/v1/organisations/{tenant.id}"
    for path in (
        f"{theirs}/silences/{made.json()['id']}/",
        f"{ours}/silences/{made.json()['id']}/",
        f"{theirs}/maintenance-windows/{made_window.json()['id']}/",
        f"{ours}/maintenance-windows/{made_window.json()['id']}/",
    ):
        assert (await client.delete(path, headers=tenant.write)).status_code == 404, path
    ack = await client.post(f"{ours}/alert-groups/agr_{'0' * 24}/acknowledge", json={}, headers=tenant.write)
    assert ack.status_code == 404
    assert (await client.get(f"{ours}/silences/", headers=tenant.read)).json() == []
    [still] = (await client.get(f"{theirs}/silences/", headers=other_tenant.read)).json()
    assert still["state"] == "active"

    # Platform silences: created and listed with a platform token; organisation tokens get 403.
    async with db.session(write=True) as session:
        issued = await auth_service.create_token(
            session, organisation_id=None, scopes=list(scopes.ALL), name="platform", now=clock.now
        )
    platform = {"Authorization": f"Bearer {issued.token}"}
    created = await client.post("/api/v1/platform/silences/", json=silence, headers=platform)
    assert created.status_code == 201, created.text
    assert created.json()["organisation_id"] is None
    assert (await client.get("/api/v1/platform/silences/", headers=tenant.read)).status_code == 403
    assert (
        await client.post("/api/v1/platform/silences/", json=silence, headers=tenant.write)
    ).status_code == 403
    assert (await client.get(f"{ours}/silences/", headers=tenant.read)).json() == []
    listed = (await client.get("/api/v1/platform/silences/", headers=platform)).json()
    assert [s["id"] for s in listed] == [created.json()["id"]]
