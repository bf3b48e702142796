"""The loader's reporter, Lambda handler and CLI against the real pipepulse app over real HTTP.

The other loader tests script the service's answers to reach retries and outages; this one
checks that what the loader sends is what the service accepts, and that it understands the
service's real refusals (404, 409, 422).
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.loader.cli import main
from pipepulse.loader.generator import generate_files
from pipepulse.loader.handler import handle
from pipepulse.reporter.client import ReportConflict, Reporter, ReportRejected
from pipepulse.reporter.report_body import RunReportBody
from tests.conftest import FrozenClock, Tenant, iso
from tests.loader.support import NOW, Warehouse, fixed_clock


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_api(settings: Settings, db: Database, clock: FrozenClock) -> Iterator[str]:
    """create_app on the test database, served by uvicorn on a free port (the loader's clock is NOW)."""
    assert clock.now == NOW
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, clock=clock), host="127.0.0.1", port=_free_port(), log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, name="loader-live-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live API did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=10)


async def test_loader__against_the_real_service__reports_accepted_and_refusals_understood(
    live_api: str,
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    source_root: Path,
    duckdb_warehouse: Warehouse,
    clock: FrozenClock,
) -> None:
    created = await client.post(
        tenant.connections_url(),
        json={"name": "lambda", "type": "duckdb", "state": "connected"},
        headers=tenant.write,
    )
    connection_id = created.json()["id"]
    runs_url = tenant.connection_url(connection_id) + "metrics/"
    seeded = await client.post(
        runs_url,
        json={"run_id": "run_live", "started_at": iso(NOW - timedelta(minutes=2))},
        headers=service_key,
    )
    assert seeded.status_code == 201
    generated = generate_files(source_root, tenant.id, now=NOW, events_per_file=25, seed=5)
    key = service_key["Authorization"].removeprefix("Bearer ")
    environ = {
        "PIPEPULSE_LOADER_SOURCE_ROOT": str(source_root),
        "PIPEPULSE_LOADER_DESTINATION": duckdb_warehouse.url,
        "PIPEPULSE_LOADER_API_URL": live_api,
        "PIPEPULSE_LOADER_SERVICE_KEY": key,
        "PIPEPULSE_LOADER_REPORT_ATTEMPTS": "1",
    }
    event = {"run_id": "run_live", "connection_id": connection_id, "organisation_id": tenant.id}

    # The Lambda handler loads the waiting files and completes the seeded run (PATCH → 204).
    result = handle(event, environ, now=fixed_clock)
    run = (await client.get(f"{runs_url}run_live/", headers=tenant.read)).json()
    assert (
        (run["outcome"], run["events_delivered"])
        == ("succeeded", 25)
        == (result["outcome"], generated[0].events)
    )
    assert run["events_by_type"] == {
        "evaluations": generated[0].evaluations,
        "custom_events": generated[0].custom_events,
    }
    assert duckdb_warehouse.total(connection_id) == 25

    # A retried invocation finds nothing new; the service's 409 for the different report is
    # understood and the run keeps its first report.
    again = handle(event, environ, now=fixed_clock)
    assert again["events_delivered"] == 0
    assert (await client.get(f"{runs_url}run_live/", headers=tenant.read)).json() == run

    # The reporter names the service's own reasons.
    with Reporter(live_api, key) as reporter:
        with pytest.raises(ReportConflict) as conflict:
            reporter.report_run(
                tenant.id, connection_id, "run_live", RunReportBody(completed_at=NOW, error="late")
            )
        assert conflict.value.detail == (
            "run 'run_live' was already completed with a different report; "
            "reports are immutable (repeat the identical report, or create a new run)"
        )
        with pytest.raises(ReportRejected) as missing:
            reporter.report_run(tenant.id, connection_id, "run_nope", RunReportBody(completed_at=NOW))
        assert (missing.value.status_code, missing.value.detail) == (
            404,
            "run 'run_nope' not found for this connection",
        )
        bad = RunReportBody(completed_at=NOW, events_delivered=2, events_by_type={"clicks": 2})
        with pytest.raises(ReportRejected) as rejected:
            reporter.report_run(tenant.id, connection_id, "run_live", bad)
        assert rejected.value.status_code == 422
        detail: Any = rejected.value.detail
        assert "unknown event type(s) ['clicks']" in detail[0]["msg"]

    # The CLI without a run id pushes a finished run of its own (POST → 201), a minute later.
    clock.advance(minutes=1)
    generate_files(source_root, tenant.id, now=NOW + timedelta(minutes=1), events_per_file=10, seed=6)
    printed = io.StringIO()
    status = main(
        ["run", "--connection-id", connection_id, "--organisation-id", str(tenant.id)],
        environ=environ,
        now=lambda: NOW + timedelta(minutes=1),
        out=printed,
    )
    assert status == 0
    pushed = json.loads(printed.getvalue())
    listed = (await client.get(runs_url, headers=tenant.read)).json()["items"]
    assert [(r["id"], r["outcome"], r["events_delivered"]) for r in listed] == [
        (pushed["run_id"], "succeeded", pushed["events_delivered"]),
        ("run_live", "succeeded", 25),
    ]
    telemetry = (
        await client.get(tenant.connection_url(connection_id) + "telemetry/", headers=tenant.read)
    ).json()
    assert telemetry["events_last_24h"]["total"] == 25 + pushed["events_delivered"]
