"""The loader side, hardened: signatures that fail cleanly, a dispatcher that will not send
unsigned invocations, a reporter that outlasts a restart, a scheduler never early."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.reporter.client import Reporter, ReporterError, ReportFailed
from pipepulse.reporter.report_body import RunReportBody
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import HttpDispatcher, NoDispatcher
from pipepulse.wire.invocation_signature import (
    EmptySigningSecret,
    InvalidSignature,
    MalformedSignature,
    expected_signature,
    verify,
)
from tests.conftest import FrozenClock, Tenant, iso

BODY = b'{"run_id":"r","connection_id":"wc_1","organisation_id":1}'
NOW = 1_700_000_000


def signed(timestamp: str, signature: str | None = None) -> dict[str, str]:
    return {
        "x-pipepulse-timestamp": timestamp,
        "x-pipepulse-signature": signature or expected_signature("s3cret", timestamp, BODY),
    }


@pytest.mark.parametrize(
    "headers",
    [
        signed("\u00b2\u00b3"),  # superscript digits: str.isdigit() says yes, int() says no
        signed("\u0663" * 3),  # Arabic-Indic digits
        signed("9" * 5000),  # more digits than int() converts
        signed("-1"),
        signed(str(NOW), "sha256=not-hex"),
        signed(str(NOW), "md5=" + "0" * 64),
        {"x-pipepulse-timestamp": str(NOW)},
        {},
    ],
)
def test_verify__malformed_headers__malformed_signature_never_value_error(headers: dict[str, str]) -> None:
    with pytest.raises(MalformedSignature) as caught:
        verify("s3cret", headers, BODY, now=NOW)
    assert isinstance(caught.value, InvalidSignature)
    assert not isinstance(caught.value, ValueError)


def test_verify__valid__accepted_and_tampering_refused() -> None:
    verify("s3cret", signed(str(NOW)), BODY, now=NOW + 10)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify("s3cret", signed(str(NOW)), BODY + b" ", now=NOW)


def test_signing__empty_secret__refused_on_both_sides() -> None:
    with pytest.raises(EmptySigningSecret):
        expected_signature("", str(NOW), BODY)
    # Even a signature an attacker made with the empty key is never accepted.
    import hashlib
    import hmac

    forged = "sha256=" + hmac.new(b"", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(EmptySigningSecret):
        verify("", signed(str(NOW), forged), BODY, now=NOW)


def test_http_dispatcher__no_signing_secret__refuses_to_start() -> None:
    with pytest.raises(ValueError, match="PIPEPULSE_LOADER_SIGNING_SECRET"):
        HttpDispatcher("https://loader.example/invoke", "")


def test_scheduler_cli__http_dispatcher_without_secret__one_line_error(settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEPULSE_")}
    env.update(
        PIPEPULSE_DATABASE_URL=settings.database_url,
        PIPEPULSE_DATA_DIR=str(settings.data_dir),
        PIPEPULSE_DISPATCHER="http",
        PIPEPULSE_LOADER_URL="https://loader.example/invoke",
    )
    result = subprocess.run(
        [sys.executable, "-m", "pipepulse", "scheduler", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "PIPEPULSE_LOADER_SIGNING_SECRET is required" in result.stderr
    assert "Traceback" not in result.stderr


# The reporter against a real HTTP server that is down for a while.


class Flaky:
    """Answers 503 (Retry-After: 5) to the first ``failures`` requests, then 204."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests = 0


@pytest.fixture
def flaky() -> Iterator[tuple[str, Flaky]]:
    state = Flaky(failures=0)

    class Handler(BaseHTTPRequestHandler):
        def do_PATCH(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests += 1
            if state.requests <= state.failures:
                self.send_response(503)
                self.send_header("Retry-After", "5")
                self.send_header("Content-Length", "0")
            else:
                self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


REPORT = RunReportBody(completed_at=datetime(2026, 4, 20, 12, tzinfo=UTC), events_delivered=1)


def test_reporter__server_down_for_three_minutes__keeps_retrying_and_succeeds(
    flaky: tuple[str, Flaky],
) -> None:
    url, state = flaky
    state.failures = 36  # 36 answers of 503, Retry-After 5 s: three minutes of waiting
    sleeps: list[float] = []
    with Reporter(url, "pps_key", sleep=sleeps.append) as reporter:
        reporter.report_run(7, "wc_1", "run_1", REPORT)
    assert state.requests == 37
    assert sum(sleeps) == pytest.approx(180)


def test_reporter__down_longer_than_the_budget__gives_up_after_the_budget(
    flaky: tuple[str, Flaky],
) -> None:
    url, state = flaky
    state.failures = 10_000
    sleeps: list[float] = []
    with Reporter(url, "pps_key", sleep=sleeps.append) as reporter, pytest.raises(ReportFailed) as caught:
        reporter.report_run(7, "wc_1", "run_1", REPORT)
    # Ten minutes of waiting in all (default budget), far more than the old five attempts.
    assert 595 <= sum(sleeps) <= 600
    assert caught.value.attempts == state.requests
    assert caught.value.attempts > 100


def test_reporter__budget_in_the_environment__used(flaky: tuple[str, Flaky]) -> None:
    url, state = flaky
    state.failures = 10_000
    sleeps: list[float] = []
    environ = {
        "PIPEPULSE_LOADER_API_URL": url,
        "PIPEPULSE_LOADER_SERVICE_KEY": "pps_key",
        "PIPEPULSE_LOADER_REPORT_BUDGET_SECONDS": "30",
    }
    with Reporter.from_env(environ, sleep=sleeps.append) as reporter, pytest.raises(ReportFailed):
        reporter.report_run(7, "wc_1", "run_1", REPORT)
    assert 25 <= sum(sleeps) <= 30
    with pytest.raises(ReporterError, match="BUDGET_SECONDS"):
        Reporter.from_env({**environ, "PIPEPULSE_LOADER_REPORT_BUDGET_SECONDS": "soon"})


async def test_reporter__first_answer_lost_after_storing__resend_is_an_identical_204(
    client: httpx.AsyncClient, runs_url: str, service_key: dict[str, str], clock: FrozenClock, tenant: Tenant
) -> None:
    """The service side of the reporter's promise: resending a stored report is a no-op 204."""
    await client.post(runs_url, json={"run_id": "r", "started_at": iso(clock.now)}, headers=service_key)
    report = {"completed_at": iso(clock.now), "events_delivered": 4}
    first = await client.patch(runs_url + "r/", json=report, headers=service_key)
    again = await client.patch(runs_url + "r/", json=report, headers=service_key)
    assert (first.status_code, again.status_code) == (204, 204)
    telemetry = await client.get(runs_url.removesuffix("metrics/") + "telemetry/", headers=tenant.read)
    assert telemetry.json()["events_last_24h"]["total"] == 4


# The scheduler: due only once a whole interval has passed, to the microsecond.


async def _connection(client: httpx.AsyncClient, tenant: Tenant, interval: int) -> str:
    response = await client.post(
        tenant.connections_url(),
        json={"name": "c", "type": "duckdb", "state": "connected", "schedule_interval_seconds": interval},
        headers=tenant.write,
    )
    connection_id: str = response.json()["id"]
    return connection_id


@pytest.mark.parametrize("fraction", [0.001, 0.5, 0.9, 0.999999])
async def test_scheduler__seeded_at_a_fraction_of_a_second__never_due_before_the_interval(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    fraction: float,
) -> None:
    await _connection(client, tenant, 60)
    clock.now = clock.now.replace(microsecond=0) + timedelta(seconds=fraction)
    started = clock.now
    assert (await runner.tick(db, settings, NoDispatcher(), clock.now)).seeded == 1

    for early in (timedelta(seconds=59), timedelta(seconds=60) - timedelta(microseconds=1)):
        assert (await runner.tick(db, settings, NoDispatcher(), started + early)).seeded == 0, early
    # Due within a second of the interval (the schedule is kept in whole seconds).
    assert (await runner.tick(db, settings, NoDispatcher(), started + timedelta(seconds=61))).seeded == 1


async def test_scheduler__pushed_run_at_a_fraction__not_due_before_its_interval(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    service_key: dict[str, str],
) -> None:
    connection_id = await _connection(client, tenant, 60)
    started = clock.now.replace(microsecond=900_000)
    pushed = await client.post(
        tenant.connection_url(connection_id) + "metrics/",
        json={"started_at": iso(started)},
        headers=service_key,
    )
    assert pushed.status_code == 201
    almost = started + timedelta(seconds=59, microseconds=99_999)
    assert (await runner.tick(db, settings, NoDispatcher(), almost)).seeded == 0
    assert (await runner.tick(db, settings, NoDispatcher(), started + timedelta(seconds=61))).seeded == 1
