"""Building histories through the real API, and running the `pipepulse` command as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from typing import Any

import httpx

from pipepulse.config import Settings
from tests.conftest import Tenant, iso


async def make_connection(
    client: httpx.AsyncClient, tenant: Tenant, name: str = "Warehouse", **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        tenant.connections_url(),
        json={"name": name, "type": "snowflake", "state": "connected", **fields},
        headers=tenant.write,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def push(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection_id: str,
    key: dict[str, str],
    *,
    started_at: datetime,
    completed_at: datetime | None = None,
    **report: Any,
) -> dict[str, Any]:
    """POST …/metrics/: a finished run (with completed_at) or a pending one."""
    body: dict[str, Any] = {"started_at": iso(started_at)}
    if completed_at is not None:
        body["completed_at"] = iso(completed_at)
        body.update(report)
    response = await client.post(tenant.connection_url(connection_id) + "metrics/", json=body, headers=key)
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


def pipepulse(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m pipepulse ARGS` on the test database, with PIPEPULSE_* settings from ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PIPEPULSE_")}
    environ["PIPEPULSE_DATABASE_URL"] = settings.database_url
    environ["PIPEPULSE_DATA_DIR"] = str(settings.data_dir)
    environ.update({f"PIPEPULSE_{k.upper()}": v for k, v in env.items()})
    return subprocess.run(
        [sys.executable, "-m", "pipepulse", *args], env=environ, capture_output=True, text=True, timeout=60
    )
