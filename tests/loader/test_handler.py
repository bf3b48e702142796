"""The Lambda handler: settings from the environment, load, then report."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipepulse.loader.generator import generate_files
from pipepulse.loader.handler import handle
from pipepulse.reporter.client import ReporterError, ReportFailed
from pipepulse.wire.invocation import InvalidJob
from tests.loader.support import NOW, ScriptedServer, Warehouse, fixed_clock

EVENT = {"run_id": "run_9", "connection_id": "wc_lambda", "organisation_id": 7}
RUN_PATH = "/api/v1/organisations/7/integrations/warehouse-connections/wc_lambda/metrics/run_9/"
# Word for word what the service answers (runs/service.py), so the test reads like production.
CONFLICT = (
    "run 'run_9' was already completed with a different report; "
    "reports are immutable (repeat the identical report, or create a new run)"
)


def _environ(source_root: Path, warehouse: Warehouse, api_url: str) -> dict[str, str]:
    return {
        "PIPEPULSE_LOADER_SOURCE_ROOT": str(source_root),
        "PIPEPULSE_LOADER_DESTINATION": warehouse.url,
        "PIPEPULSE_LOADER_BATCH_SIZE": "7",
        "PIPEPULSE_LOADER_API_URL": api_url,
        "PIPEPULSE_LOADER_SERVICE_KEY": "svc_lambda",
        "PIPEPULSE_LOADER_REPORT_ATTEMPTS": "1",
    }


def test_handle__waiting_events__loaded_and_reported_with_the_service_key(
    source_root: Path, duckdb_warehouse: Warehouse, api_server: ScriptedServer
) -> None:
    generated = generate_files(source_root, 7, now=NOW, events_per_file=20, seed=1)
    api_server.respond(204)

    result = handle(EVENT, _environ(source_root, duckdb_warehouse, api_server.url), now=fixed_clock)

    (request,) = api_server.requests
    assert (request.method, request.path) == ("PATCH", RUN_PATH)
    assert request.headers["authorization"] == "Bearer svc_lambda"
    assert request.body["events_delivered"] == generated[0].events == 20
    assert request.body["events_by_type"] == {
        "evaluations": generated[0].evaluations,
        "custom_events": generated[0].custom_events,
    }
    assert result == {"run_id": "run_9", "outcome": "succeeded", **request.body}
    assert duckdb_warehouse.total("wc_lambda") == 20


def test_handle__destination_not_configured__failed_run_reported(
    source_root: Path, duckdb_warehouse: Warehouse, api_server: ScriptedServer
) -> None:
    environ = _environ(source_root, duckdb_warehouse, api_server.url)
    del environ["PIPEPULSE_LOADER_DESTINATION"]
    api_server.respond(204)

    handle(EVENT, environ, now=fixed_clock)

    assert api_server.requests[0].body["error"] == (
        "loader misconfigured: PIPEPULSE_LOADER_DESTINATION is not set"
    )


def test_handle__retried_invocation_finds_run_already_reported__returns_quietly(
    source_root: Path, duckdb_warehouse: Warehouse, api_server: ScriptedServer
) -> None:
    api_server.respond(409, {"detail": CONFLICT})

    result = handle(EVENT, _environ(source_root, duckdb_warehouse, api_server.url), now=fixed_clock)

    assert result["outcome"] == "succeeded"
    assert len(api_server.requests) == 1


def test_handle__service_down__raises_so_the_invocation_counts_as_failed(
    source_root: Path, duckdb_warehouse: Warehouse, api_server: ScriptedServer
) -> None:
    api_server.respond(503)

    with pytest.raises(ReportFailed):
        handle(EVENT, _environ(source_root, duckdb_warehouse, api_server.url), now=fixed_clock)


def test_handle__payload_without_run_id__invalid_job() -> None:
    with pytest.raises(InvalidJob, match="lacks run_id"):
        handle({"connection_id": "wc_1", "organisation_id": 7}, {})


def test_handle__no_api_url__reporter_error_before_loading(source_root: Path) -> None:
    with pytest.raises(ReporterError, match="PIPEPULSE_LOADER_API_URL"):
        handle(EVENT, {"PIPEPULSE_LOADER_SOURCE_ROOT": str(source_root)})
