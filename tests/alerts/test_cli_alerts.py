"""`pipepulse token create --scope write:alerts` as a user runs it, and the token it prints
may add a channel; `scheduler --once` reports what its alert pass did."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from pipepulse.config import Settings
from pipepulse.db.session import Database
from tests.alerts.receiver import Receiver


def pipepulse(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEPULSE_")}
    env["PIPEPULSE_DATABASE_URL"] = settings.database_url
    env["PIPEPULSE_DATA_DIR"] = str(settings.data_dir)
    env["PIPEPULSE_DISPATCHER"] = "none"
    return subprocess.run(
        [sys.executable, "-m", "pipepulse", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_cli__token_with_write_alerts__adds_a_channel_over_http(
    settings: Settings, db: Database, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    org = json.loads(pipepulse(settings, "org", "create", "--slug", "ops", "--name", "Ops", "--json").stdout)
    created = pipepulse(settings, "token", "create", "--org", "ops", "--scope", "write:alerts", "--json")
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)
    assert token["scopes"] == ["write:alerts"]
    response = await client.post(
        f"/api/v1/organisations/{org['id']}/alert-channels/",
        json={"name": "pager", "kind": "webhook", "url": receiver.url},
        headers={"Authorization": f"Bearer {token['token']}"},
    )
    assert response.status_code == 201, response.text

    tick = pipepulse(settings, "scheduler", "--once")
    assert tick.returncode == 0, tick.stderr
    assert "0 event(s), 0 notification(s) queued, 0 delivered" in tick.stdout
