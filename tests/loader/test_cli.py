"""`python -m pipepulse.loader`: run and generate from a shell."""

from __future__ import annotations

import io
import json
from pathlib import Path

from pipepulse.loader.cli import main
from tests.loader.support import NOW, ScriptedServer, Warehouse, fixed_clock

CONNECTION = "/api/v1/organisations/7/integrations/warehouse-connections/wc_cli/metrics/"


def test_main_generate_then_run__no_run_id__pushes_a_finished_run(
    source_root: Path, duckdb_warehouse: Warehouse, api_server: ScriptedServer
) -> None:
    generated = io.StringIO()
    main(
        ["generate", "--source-root", str(source_root), "--organisation-id", "7",
         "--hours", "2", "--events-per-file", "15", "--seed", "3"],
        environ={},
        now=fixed_clock,
        out=generated,
    )  # fmt: skip
    api_server.respond(201, {"id": "run_x"})
    printed = io.StringIO()

    status = main(
        ["run", "--connection-id", "wc_cli", "--organisation-id", "7",
         "--source-root", str(source_root), "--destination", duckdb_warehouse.url,
         "--api-url", api_server.url],
        environ={"PIPEPULSE_LOADER_SERVICE_KEY": "svc_cli"},
        now=fixed_clock,
        out=printed,
    )  # fmt: skip

    files = [json.loads(line) for line in generated.getvalue().splitlines()]
    report = json.loads(printed.getvalue())
    (request,) = api_server.requests
    assert status == 0
    assert len(files) == 2
    assert report["events_delivered"] == 30 == duckdb_warehouse.total("wc_cli")
    assert (request.method, request.path) == ("POST", CONNECTION)
    assert request.headers["authorization"] == "Bearer svc_cli"
    assert request.body == {
        "run_id": report["run_id"],
        "started_at": "2026-04-20T12:00:00Z",
        **{key: value for key, value in report.items() if key not in ("run_id", "outcome")},
    }


def test_main_run__unreachable_destination__exit_1_and_error_printed(source_root: Path) -> None:
    printed = io.StringIO()

    status = main(
        ["run", "--run-id", "run_5", "--connection-id", "wc_cli", "--organisation-id", "7",
         "--source-root", str(source_root), "--destination", "postgresql://u:pw@127.0.0.1:1/db"],
        environ={},
        now=fixed_clock,
        out=printed,
    )  # fmt: skip

    report = json.loads(printed.getvalue())
    assert status == 1
    assert report["run_id"] == "run_5"
    assert report["error"] == "destination unreachable: postgresql://u@127.0.0.1:1/db: connection refused"


def test_main_run__settings_from_environment__seeded_run_patched(
    source_root: Path, duckdb_warehouse: Warehouse, api_server: ScriptedServer
) -> None:
    api_server.respond(204)
    environ = {
        "PIPEPULSE_LOADER_SOURCE_ROOT": str(source_root),
        "PIPEPULSE_LOADER_DESTINATION": duckdb_warehouse.url,
        "PIPEPULSE_LOADER_API_URL": api_server.url,
        "PIPEPULSE_LOADER_SERVICE_KEY": "svc_cli",
    }

    status = main(
        ["run", "--run-id", "run_6", "--connection-id", "wc_cli", "--organisation-id", "7"],
        environ=environ,
        now=fixed_clock,
        out=io.StringIO(),
    )

    assert status == 0
    assert [(r.method, r.path) for r in api_server.requests] == [("PATCH", CONNECTION + "run_6/")]
    assert api_server.requests[0].body["completed_at"] == NOW.isoformat().replace("+00:00", "Z")


def test_main_run__report_refused__exit_3(
    source_root: Path, duckdb_warehouse: Warehouse, api_server: ScriptedServer
) -> None:
    api_server.respond(404, {"detail": "run not found"})

    status = main(
        ["run", "--run-id", "run_7", "--connection-id", "wc_cli", "--organisation-id", "7",
         "--source-root", str(source_root), "--destination", duckdb_warehouse.url,
         "--api-url", api_server.url],
        environ={"PIPEPULSE_LOADER_SERVICE_KEY": "svc_cli"},
        now=fixed_clock,
        out=io.StringIO(),
    )  # fmt: skip

    assert status == 3
