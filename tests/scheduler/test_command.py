"""`pipepulse scheduler --once` as an operator runs it: a real process, a real loader endpoint."""

from __future__ import annotations

import json
import time

import httpx

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.wire.invocation_signature import verify
from tests.conftest import Tenant
from tests.helpers import pipepulse
from tests.scheduler.conftest import LoaderEndpoint


async def test_scheduler_once__http_dispatcher__loader_receives_signed_payload_and_run_exists(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    loader_endpoint: tuple[str, type[LoaderEndpoint]],
) -> None:
    url, endpoint = loader_endpoint
    created = await client.post(
        tenant.connections_url(),
        json={"name": "w", "type": "duckdb", "state": "connected"},
        headers=tenant.write,
    )
    connection_id = created.json()["id"]
    await client.post(
        tenant.connections_url(),
        json={"name": "p", "type": "duckdb", "state": "paused"},
        headers=tenant.write,
    )

    result = pipepulse(
        settings, "scheduler", "--once", dispatcher="http", loader_url=url, loader_signing_secret="s3cret"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tick: seeded 1 run(s), orphaned 0, 0 invocation failure(s)")
    [(headers, body)] = endpoint.received
    verify("s3cret", headers, body, now=int(time.time()))  # raises unless signed with the secret
    payload = json.loads(body)
    [run] = (await client.get(tenant.connection_url(connection_id) + "metrics/", headers=tenant.read)).json()[
        "items"
    ]
    assert payload == {"run_id": run["id"], "connection_id": connection_id, "organisation_id": tenant.id}
    assert run["completed_at"] is None  # seeded, waiting for the loader's report


async def test_scheduler_once__loader_refuses__run_failed_and_counted_in_the_summary(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    loader_endpoint: tuple[str, type[LoaderEndpoint]],
) -> None:
    url, endpoint = loader_endpoint
    endpoint.status = 503
    created = await client.post(
        tenant.connections_url(),
        json={"name": "w", "type": "duckdb", "state": "connected"},
        headers=tenant.write,
    )

    result = pipepulse(
        settings, "scheduler", "--once", dispatcher="http", loader_url=url, loader_signing_secret="s3cret"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tick: seeded 1 run(s), orphaned 0, 1 invocation failure(s)")
    [run] = (
        await client.get(tenant.connection_url(created.json()["id"]) + "metrics/", headers=tenant.read)
    ).json()["items"]
    assert (run["outcome"], run["error"]) == ("failed", f"loader invocation failed: HTTP 503 from {url}")


def test_scheduler_once__http_dispatcher_without_url__one_line_error(
    settings: Settings, db: Database
) -> None:
    result = pipepulse(settings, "scheduler", "--once", dispatcher="http")

    assert result.returncode == 1
    # The last line says what to fix (a warning about the secret key may come before it), and no
    # traceback is shown.
    assert (
        result.stderr.strip().splitlines()[-1]
        == "error: PIPEPULSE_LOADER_URL is required for the http dispatcher"
    )
    assert "Traceback" not in result.stderr


def test_scheduler_once__log_level__debug_lines_only_when_asked_and_on_standard_error(
    settings: Settings, db: Database
) -> None:
    """PIPEPULSE_LOG_LEVEL reaches the scheduler's own lines: DEBUG prints where each alert pass
    spent its time; the default (INFO) does not; stdout keeps only the tick's summary."""
    asked = pipepulse(settings, "scheduler", "--once", log_level="debug")
    assert asked.returncode == 0, asked.stderr
    [phases] = [line for line in asked.stderr.splitlines() if "alert pass phases" in line]
    assert " DEBUG pipepulse.scheduler.runner: alert pass phases: evaluation " in phases
    assert asked.stdout.startswith("tick: seeded 0 run(s)")
    default = pipepulse(settings, "scheduler", "--once")
    assert default.returncode == 0, default.stderr
    assert "alert pass phases" not in default.stderr
    assert "DEBUG" not in default.stderr
    unknown = pipepulse(settings, "scheduler", "--once", log_level="loud")
    assert unknown.returncode != 0
    assert unknown.stderr.strip() == (
        "error: invalid settings: PIPEPULSE_LOG_LEVEL=loud: must be one of DEBUG, INFO, WARNING, ERROR, "
        "CRITICAL (any case), not 'loud'"
    )
