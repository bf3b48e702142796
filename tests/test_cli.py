"""The CLI as a user runs it: a real subprocess against the test database."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx

from pipepulse.config import Settings
from pipepulse.db.session import Database
from tests.helpers import pipepulse


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    body: dict[str, Any] = json.loads(result.stdout)
    return body


async def test_cli__org_token_service_key__created_and_usable_over_http(
    settings: Settings, db: Database, client: httpx.AsyncClient
) -> None:
    org = as_json(pipepulse(settings, "org", "create", "--slug", "acme-eu", "--name", "Acme EU", "--json"))
    assert org["slug"] == "acme-eu"
    token = as_json(
        pipepulse(
            settings,
            "token",
            "create",
            "--org",
            "acme-eu",
            "--scope",
            "read:pipeline_metrics",
            "--scope",
            "write:connections",
            "--json",
        )
    )
    assert token["scopes"] == ["read:pipeline_metrics", "write:connections"]
    assert token["organisation_id"] == org["id"]
    platform = as_json(pipepulse(settings, "token", "create", "--all-orgs", "--json"))
    assert platform["organisation_id"] is None
    key = as_json(pipepulse(settings, "service-key", "create", "--name", "lambda-loader", "--json"))
    assert key["key"].startswith("pps_")

    user = {"Authorization": f"Bearer {token['token']}"}
    created = await client.post(
        f"/api/v1/organisations/{org['id']}/integrations/warehouse-connections/",
        json={"name": "w", "type": "duckdb"},
        headers=user,
    )
    assert created.status_code == 201
    connections = f"/api/v1/organisations/{org['id']}/integrations/warehouse-connections/"
    runs = f"{connections}{created.json()['id']}/metrics/"
    pushed = await client.post(
        runs, json={"started_at": "2026-04-20T11:00:00Z"}, headers={"Authorization": f"Bearer {key['key']}"}
    )
    assert pushed.status_code == 201
    listed = await client.get(
        "/api/v1/organisations/", headers={"Authorization": f"Bearer {platform['token']}"}
    )
    assert [o["slug"] for o in listed.json()["items"]] == ["acme-eu"]


async def test_cli__mistakes__one_line_error_and_nonzero_exit(settings: Settings, db: Database) -> None:
    assert pipepulse(settings, "org", "create", "--slug", "dup", "--name", "D").returncode == 0
    duplicate = pipepulse(settings, "org", "create", "--slug", "dup", "--name", "D")
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr
    bad_slug = pipepulse(settings, "org", "create", "--slug", "Not Valid", "--name", "x")
    assert bad_slug.returncode == 1
    assert "[a-z0-9-]" in bad_slug.stderr
    unknown_org = pipepulse(settings, "token", "create", "--org", "nobody")
    assert unknown_org.returncode == 1
    assert "no organisation with slug 'nobody'" in unknown_org.stderr
    bad_scope = pipepulse(settings, "token", "create", "--org", "dup", "--scope", "admin")
    assert bad_scope.returncode == 1
    assert "unknown scope" in bad_scope.stderr
    both = pipepulse(settings, "token", "create", "--org", "dup", "--all-orgs")
    assert both.returncode == 2


def test_cli__unsupported_database_url__clear_error(settings: Settings) -> None:
    odd = settings.model_copy(update={"database_url": "mysql://root@localhost/x"})
    result = pipepulse(odd, "db", "upgrade")
    assert result.returncode == 1
    assert "use postgresql://user@host/db or sqlite:///path.db" in result.stderr


async def test_cli__revoke_token_and_service_key__rejected_at_once(
    settings: Settings, db: Database, client: httpx.AsyncClient
) -> None:
    as_json(pipepulse(settings, "org", "create", "--slug", "acme", "--name", "Acme", "--json"))
    token = as_json(pipepulse(settings, "token", "create", "--org", "acme", "--json"))
    key = as_json(pipepulse(settings, "service-key", "create", "--name", "l", "--json"))
    user = {"Authorization": f"Bearer {token['token']}"}
    assert (await client.get("/api/v1/organisations/", headers=user)).status_code == 200

    listed = json.loads(pipepulse(settings, "token", "list", "--json").stdout)
    assert [(t["id"], t["revoked_at"]) for t in listed] == [(token["id"], None)]
    assert token["token"] not in pipepulse(settings, "token", "list").stdout
    assert pipepulse(settings, "token", "revoke", token["id"]).returncode == 0
    assert pipepulse(settings, "service-key", "revoke", key["id"]).returncode == 0
    assert (await client.get("/api/v1/organisations/", headers=user)).status_code == 401
    runs = "/api/v1/organisations/1/integrations/warehouse-connections/wc_x/metrics/"
    pushed = await client.post(
        runs, json={"started_at": "2026-04-20T11:00:00Z"}, headers={"Authorization": f"Bearer {key['key']}"}
    )
    assert pushed.status_code == 401
    again = pipepulse(settings, "token", "revoke", token["id"])
    assert again.returncode == 1
    assert "no active token" in again.stderr


def test_cli__serve_with_database_down__one_line_error(settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/nowhere"})
    result = pipepulse(down, "serve", "--port", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the database")
    assert "Traceback" not in result.stderr
