"""The reporter against a real HTTP server: retries, Retry-After, and refusals."""

from __future__ import annotations

import socket

import pytest

from pipepulse.reporter.backoff import RetryPolicy
from pipepulse.reporter.client import (
    ReportConflict,
    Reporter,
    ReportFailed,
    ReportRejected,
)
from pipepulse.reporter.report_body import RunReportBody
from tests.loader.support import NOW, ScriptedServer

REPORT = RunReportBody(
    completed_at=NOW,
    events_delivered=3,
    events_by_type={"evaluations": 1, "custom_events": 2},
    latency_ms=10,
)
RUN_PATH = "/api/v1/organisations/7/integrations/warehouse-connections/wc_1/metrics/run_1/"
# Word for word what the service answers (runs/service.py), so the test reads like production.
CONFLICT = (
    "run 'run_1' was already completed with a different report; "
    "reports are immutable (repeat the identical report, or create a new run)"
)


def _reporter(url: str, sleeps: list[float], attempts: int = 5) -> Reporter:
    return Reporter(
        url,
        "svc_secret",
        retry=RetryPolicy(max_attempts=attempts, base_delay_s=0.5, max_delay_s=8.0),
        sleep=sleeps.append,
        jitter=lambda: 1.0,
        clock=lambda: NOW,
    )


def test_report_run__503_then_429_then_204__resent_until_accepted_honouring_retry_after(
    api_server: ScriptedServer,
) -> None:
    api_server.respond(503, {"detail": "database unavailable"}, Retry_After="2")
    api_server.respond(429, None, Retry_After="1")
    api_server.respond(204)
    sleeps: list[float] = []

    with _reporter(api_server.url, sleeps) as reporter:
        reporter.report_run(7, "wc_1", "run_1", REPORT)

    assert [(r.method, r.path) for r in api_server.requests] == [("PATCH", RUN_PATH)] * 3
    assert all(r.body == REPORT.to_json() for r in api_server.requests)
    assert all(r.headers["authorization"] == "Bearer svc_secret" for r in api_server.requests)
    assert sleeps == [2.0, 1.0]


def test_report_run__422__report_rejected_with_detail_and_not_resent(
    api_server: ScriptedServer,
) -> None:
    detail = [{"loc": ["body", "events_by_type"], "msg": "does not sum", "type": "value_error"}]
    api_server.respond(422, {"detail": detail})
    sleeps: list[float] = []

    with _reporter(api_server.url, sleeps) as reporter, pytest.raises(ReportRejected) as caught:
        reporter.report_run(7, "wc_1", "run_1", REPORT)

    assert (caught.value.status_code, caught.value.detail) == (422, detail)
    assert len(api_server.requests) == 1
    assert sleeps == []


def test_report_run__409__report_conflict_with_the_services_message(
    api_server: ScriptedServer,
) -> None:
    api_server.respond(409, {"detail": CONFLICT})

    with _reporter(api_server.url, []) as reporter, pytest.raises(ReportConflict) as caught:
        reporter.report_run(7, "wc_1", "run_1", REPORT)

    assert caught.value.detail == CONFLICT
    assert "409" in str(caught.value)


def test_report_run__5xx_every_time__gives_up_after_max_attempts_with_backoff(
    api_server: ScriptedServer,
) -> None:
    for _ in range(4):
        api_server.respond(500)
    sleeps: list[float] = []

    with _reporter(api_server.url, sleeps, attempts=4) as reporter, pytest.raises(ReportFailed) as caught:
        reporter.report_run(7, "wc_1", "run_1", REPORT)

    assert caught.value.attempts == 4
    assert "HTTP 500" in caught.value.last_failure
    assert len(api_server.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_report_run__retry_after_longer_than_max_delay__waits_max_delay(
    api_server: ScriptedServer,
) -> None:
    api_server.respond(503, None, Retry_After="3600")
    api_server.respond(204)
    sleeps: list[float] = []

    with _reporter(api_server.url, sleeps) as reporter:
        reporter.report_run(7, "wc_1", "run_1", REPORT)

    assert sleeps == [8.0]


def test_report_run__nothing_listening__retried_then_report_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []

    with _reporter(f"http://127.0.0.1:{port}", sleeps, attempts=3) as reporter:
        with pytest.raises(ReportFailed, match="ConnectError"):
            reporter.report_run(7, "wc_1", "run_1", REPORT)

    assert len(sleeps) == 2


def test_create_run__first_201_then_repeat_200__created_then_existing(
    api_server: ScriptedServer,
) -> None:
    run = {"id": "run_push", "started_at": "2026-04-20T11:59:00Z"}
    api_server.respond(201, run)
    api_server.respond(200, run)

    with _reporter(api_server.url, []) as reporter:
        first = reporter.create_run(7, "wc_1", run_id="run_push", started_at=NOW, report=REPORT)
        again = reporter.create_run(7, "wc_1", run_id="run_push", started_at=NOW, report=REPORT)

    assert (first.created, again.created) == (True, False)
    assert first.run == run
    assert api_server.requests[0].body == {
        "run_id": "run_push",
        "started_at": "2026-04-20T12:00:00Z",
        **REPORT.to_json(),
    }


def test_create_run__no_run_id_and_a_retry__resend_carries_the_same_generated_id(
    api_server: ScriptedServer,
) -> None:
    api_server.respond(502)
    api_server.respond(201, {"id": "whatever"})

    with _reporter(api_server.url, []) as reporter:
        reporter.create_run(7, "wc_1", started_at=NOW)

    first, second = (r.body for r in api_server.requests)
    assert first == second
    assert first["run_id"].startswith("run_")
    assert first == {"run_id": first["run_id"], "started_at": "2026-04-20T12:00:00Z"}
