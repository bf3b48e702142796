"""The reporter's batching mode: reports queued and sent together, each still judged on its own."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.loader.generator import generate_files
from pipepulse.loader.handler import handle
from pipepulse.reporter.backoff import RetryPolicy
from pipepulse.reporter.client import Reporter, ReporterError, ReportFailed, ReportRejected
from pipepulse.reporter.report_body import RunReportBody
from tests.conftest import FrozenClock, Tenant, iso, make_tenant
from tests.loader.support import NOW, ScriptedServer, Warehouse, fixed_clock

REPORT = RunReportBody(
    completed_at=NOW, events_delivered=3, events_by_type={"evaluations": 1, "custom_events": 2}
)
BATCH_PATH = "/api/v1/runs/reports/"


def _batching(url: str, *, size: int, linger: float = 30.0, attempts: int = 3) -> Reporter:
    return Reporter(
        url,
        "svc_secret",
        retry=RetryPolicy(max_attempts=attempts, base_delay_s=0.01, max_delay_s=0.01),
        sleep=lambda _s: None,
        batch_size=size,
        batch_linger_s=linger,
    )


def _all_accepted(count: int) -> dict[str, Any]:
    return {"results": [{"index": i, "status": 204} for i in range(count)]}


def test_batching__size_reached__sent_in_one_request_and_the_rest_on_close(
    api_server: ScriptedServer,
) -> None:
    api_server.respond(200, _all_accepted(2))
    api_server.respond(200, _all_accepted(1))

    with _batching(api_server.url, size=2) as reporter:
        reporter.report_run(7, "wc_1", "run_1", REPORT)
        assert api_server.requests == []
        reporter.report_run(7, "wc_1", "run_2", REPORT)
        assert len(api_server.requests) == 1
        reporter.report_run(8, "wc_2", "run_3", REPORT)

    assert [(r.method, r.path) for r in api_server.requests] == [("POST", BATCH_PATH)] * 2
    first, second = (r.body for r in api_server.requests)
    assert first == [
        {"organisation_id": 7, "connection_id": "wc_1", "run_id": "run_1", **REPORT.to_json()},
        {"organisation_id": 7, "connection_id": "wc_1", "run_id": "run_2", **REPORT.to_json()},
    ]
    assert second == [{"organisation_id": 8, "connection_id": "wc_2", "run_id": "run_3", **REPORT.to_json()}]
    assert reporter.refused == []


def test_batching__linger_passed__partial_batch_sent_without_a_flush(api_server: ScriptedServer) -> None:
    api_server.respond(200, _all_accepted(1))
    with _batching(api_server.url, size=500, linger=0.05) as reporter:
        reporter.report_run(7, "wc_1", "run_1", REPORT)
        deadline = time.monotonic() + 5
        while not api_server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(api_server.requests) == 1
        assert reporter.flush() == []  # nothing left to send


def test_batching__refused_items__kept_with_the_services_status_and_detail(
    api_server: ScriptedServer,
) -> None:
    api_server.respond(
        200,
        {
            "results": [
                {"index": 0, "status": 204},
                {"index": 1, "status": 404, "detail": "run 'run_2' not found for this connection"},
                {
                    "index": 2,
                    "status": 409,
                    "detail": "run 'run_3' was already completed with a different report",
                },
            ]
        },
    )
    with _batching(api_server.url, size=3) as reporter:
        for run_id in ("run_1", "run_2", "run_3"):
            reporter.report_run(7, "wc_1", run_id, REPORT)
        outcomes_before_close = list(reporter.refused)

    assert [(o.run_id, o.status_code) for o in outcomes_before_close] == [("run_2", 404), ("run_3", 409)]
    assert "not found" in str(outcomes_before_close[0].detail)


def test_batching__service_down_then_back__the_same_batch_resent(api_server: ScriptedServer) -> None:
    api_server.respond(503, Retry_After="0")
    api_server.respond(200, _all_accepted(2))
    with _batching(api_server.url, size=2) as reporter:
        reporter.report_run(7, "wc_1", "run_1", REPORT)
        reporter.report_run(7, "wc_1", "run_2", REPORT)
    assert len(api_server.requests) == 2
    assert api_server.requests[0].body == api_server.requests[1].body


def test_batching__unreachable__raises_and_keeps_the_reports_for_the_next_flush(
    api_server: ScriptedServer,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    reporter = _batching(closed, size=10, attempts=2)
    reporter.report_run(7, "wc_1", "run_1", REPORT)
    with pytest.raises(ReportFailed):
        reporter.flush()
    # The same reporter pointed at a service that answers (as after a network blip).
    reporter._client.base_url = httpx.URL(api_server.url)
    api_server.respond(200, _all_accepted(1))
    assert [o.status_code for o in reporter.flush()] == [204]
    reporter.close()


def test_batching__out_of_range_settings__refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Reporter("http://x", "k", batch_size=1001)
    with pytest.raises(ReporterError, match="BATCH_SIZE"):
        Reporter.from_env(
            {"PIPEPULSE_LOADER_API_URL": "http://x", "PIPEPULSE_LOADER_SERVICE_KEY": "k",
             "PIPEPULSE_LOADER_REPORT_BATCH_SIZE": "lots"}
        )  # fmt: skip


# --- The reference loader reporting many runs -------------------------------------------------


def _environ(source_root: Path, warehouse: Warehouse, api_url: str) -> dict[str, str]:
    return {
        "PIPEPULSE_LOADER_SOURCE_ROOT": str(source_root),
        "PIPEPULSE_LOADER_DESTINATION": warehouse.url,
        "PIPEPULSE_LOADER_API_URL": api_url,
        "PIPEPULSE_LOADER_SERVICE_KEY": "svc_lambda",
        "PIPEPULSE_LOADER_REPORT_ATTEMPTS": "1",
    }


def test_handle__sqs_batch_of_jobs__each_loaded_and_all_reported_in_one_request(
    source_root: Path, duckdb_warehouse: Warehouse, api_server: ScriptedServer
) -> None:
    generate_files(source_root, 7, now=NOW, events_per_file=10, seed=1)
    jobs = [{"run_id": f"run_{i}", "connection_id": f"wc_{i}", "organisation_id": 7} for i in range(3)]
    event = {"Records": [{"body": json.dumps(job)} for job in jobs]}
    api_server.respond(200, _all_accepted(3))

    result = handle(event, _environ(source_root, duckdb_warehouse, api_server.url), now=fixed_clock)

    (request,) = api_server.requests
    assert (request.method, request.path) == ("POST", BATCH_PATH)
    assert [item["run_id"] for item in request.body] == ["run_0", "run_1", "run_2"]
    assert [run["run_id"] for run in result["runs"]] == ["run_0", "run_1", "run_2"]


def test_handle__batch_with_a_refused_report__the_rest_recorded_then_raises(
    source_root: Path, duckdb_warehouse: Warehouse, api_server: ScriptedServer
) -> None:
    jobs = [{"run_id": f"run_{i}", "connection_id": "wc_1", "organisation_id": 7} for i in range(2)]
    api_server.respond(
        200, {"results": [{"index": 0, "status": 204}, {"index": 1, "status": 404, "detail": "not found"}]}
    )
    with pytest.raises(ReportRejected) as caught:
        handle({"jobs": jobs}, _environ(source_root, duckdb_warehouse, api_server.url), now=fixed_clock)
    assert caught.value.status_code == 404
    assert len(api_server.requests) == 1


# --- Against the real service ------------------------------------------------------------------


@pytest.fixture
def live_api(settings: Settings, db: Database, clock: FrozenClock) -> Iterator[str]:
    """The app on the test database, served by uvicorn in a thread of its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, clock=clock), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the live server stopped"
        assert time.monotonic() < deadline, "the live server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _report_through(
    live_api: str, tenant: Tenant, service_key: dict[str, str], now: datetime
) -> tuple[Any, ...]:
    """Seed five runs, then report them (and two more) through a batching reporter."""
    key = service_key["Authorization"].removeprefix("Bearer ")
    with httpx.Client(base_url=live_api) as http:
        connection = http.post(
            tenant.connections_url(), json={"name": "w", "type": "snowflake"}, headers=tenant.write
        ).json()["id"]
        runs = tenant.connection_url(connection) + "metrics/"
        for i in range(5):
            body = {"run_id": f"r{i}", "started_at": iso(now - timedelta(minutes=5))}
            assert http.post(runs, json=body, headers=service_key).status_code == 201
        report = RunReportBody(completed_at=now - timedelta(minutes=1), events_delivered=10)
        with Reporter(live_api, key, batch_size=2, batch_linger_s=30) as reporter:
            for i in range(5):
                reporter.report_run(tenant.id, connection, f"r{i}", report)
            reporter.report_run(tenant.id, connection, "r0", report)  # an identical repeat
            reporter.report_run(tenant.id, connection, "nope", report)
        telemetry = http.get(tenant.connection_url(connection) + "telemetry/", headers=tenant.read).json()
    return reporter.refused, telemetry


async def test_batching__real_service__counted_once_and_refusals_reported(
    live_api: str, db: Database, clock: FrozenClock, service_key: dict[str, str]
) -> None:
    tenant = await make_tenant(db, "batching", clock.now)
    refused, telemetry = await asyncio.to_thread(_report_through, live_api, tenant, service_key, clock.now)
    assert [(o.run_id, o.status_code) for o in refused] == [("nope", 404)]
    assert telemetry["events_last_24h"]["total"] == 50
