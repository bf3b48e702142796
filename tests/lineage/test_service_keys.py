"""Organisation-bound service keys (SPEC §9): a key of one organisation never writes another's runs."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import timedelta
from typing import Any

import httpx

from pipepulse.config import Settings
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant, iso
from tests.helpers import make_connection, pipepulse, push
from tests.lineage.conftest import bound_key, run_event

URL = "/api/v1/lineage"


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    body: dict[str, Any] = json.loads(result.stdout)
    return body


async def test_bound_key__other_organisations_runs__never_created_nor_completed_by_any_endpoint(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
) -> None:
    mine = await make_connection(client, tenant, "mine")
    theirs = await make_connection(client, other_tenant, "theirs")
    key = await bound_key(db, tenant, clock.now)
    started = clock.now - timedelta(minutes=5)
    # A run of the other organisation, seeded by an unbound (platform) key.
    pending = await push(client, other_tenant, theirs["id"], service_key, started_at=started)
    their_runs = other_tenant.connection_url(theirs["id"]) + "metrics/"
    report = {"completed_at": iso(clock.now), "events_delivered": 5}

    create = await client.post(their_runs, json={"started_at": iso(started)}, headers=key)
    assert create.status_code == 404
    assert create.json()["detail"] == "warehouse connection not found"
    patch = await client.patch(their_runs + pending["id"] + "/", json=report, headers=key)
    assert patch.status_code == 404
    batch = await client.post(
        "/api/v1/runs/reports/",
        json=[
            {
                "organisation_id": other_tenant.id,
                "connection_id": theirs["id"],
                "run_id": pending["id"],
                **report,
            },
            {"organisation_id": tenant.id, "connection_id": mine["id"], "run_id": "nope", **report},
        ],
        headers=key,
    )
    assert [r["status"] for r in batch.json()["results"]] == [404, 404]
    # The same job name in both organisations: the key's events feed its own organisation only.
    lineage = await client.post(URL, json=run_event("COMPLETE", clock.now, name="shared.job"), headers=key)
    assert lineage.status_code == 201

    run = (await client.get(their_runs + pending["id"] + "/", headers=other_tenant.read)).json()
    assert run["outcome"] == "pending"
    listed = (await client.get(their_runs, headers=other_tenant.read)).json()
    assert listed["total"] == 1
    theirs_now = (await client.get(other_tenant.connections_url(), headers=other_tenant.read)).json()
    assert [c["name"] for c in theirs_now["items"]] == ["theirs"]
    mine_now = (await client.get(tenant.connections_url(), headers=tenant.read)).json()
    assert sorted(c["name"] for c in mine_now["items"]) == ["airflow://prod/shared.job", "mine"]


async def test_bound_key__own_organisation__writes_runs_by_every_endpoint(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock, db: Database
) -> None:
    mine = await make_connection(client, tenant, "mine")
    key = await bound_key(db, tenant, clock.now, auto_create=False)
    runs = tenant.connection_url(mine["id"]) + "metrics/"
    started = clock.now - timedelta(minutes=5)
    first = await client.post(runs, json={"run_id": "a", "started_at": iso(started)}, headers=key)
    second = await client.post(runs, json={"run_id": "b", "started_at": iso(started)}, headers=key)
    assert (first.status_code, second.status_code) == (201, 201)
    report = {"completed_at": iso(clock.now), "events_delivered": 5}
    assert (await client.patch(runs + "a/", json=report, headers=key)).status_code == 204
    batch = await client.post(
        "/api/v1/runs/reports/",
        json=[{"organisation_id": tenant.id, "connection_id": mine["id"], "run_id": "b", **report}],
        headers=key,
    )
    assert [r["status"] for r in batch.json()["results"]] == [204]


async def test_cli__service_key_for_an_organisation__bound_and_usable_for_lineage(
    settings: Settings, db: Database, client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    key = _json(
        pipepulse(
            settings,
            "service-key",
            "create",
            "--name",
            "dbt",
            "--org",
            tenant.slug,
            "--auto-create-connections",
            "--json",
        )
    )
    assert key["organisation_id"] == tenant.id
    assert key["auto_create_connections"] is True
    plain = _json(
        pipepulse(settings, "service-key", "create", "--name", "dbt2", "--org", tenant.slug, "--json")
    )
    assert plain["auto_create_connections"] is False
    headers = {"Authorization": f"Bearer {key['key']}"}
    answer = await client.post(
        URL, json=run_event("START", clock.now, run_id=str(uuid.uuid4())), headers=headers
    )
    assert answer.status_code == 201, answer.text

    unbound = pipepulse(settings, "service-key", "create", "--name", "x", "--auto-create-connections")
    assert unbound.returncode == 2
    assert "--org" in unbound.stderr
    unknown = pipepulse(settings, "service-key", "create", "--name", "x", "--org", "nobody")
    assert unknown.returncode != 0
    assert "nobody" in unknown.stderr
