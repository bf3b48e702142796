"""A small sync client a loader uses to create and report runs to the pipepulse API."""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from pipepulse import __version__
from pipepulse.loader.backoff import RetryPolicy, parse_retry_after
from pipepulse.loader.report import RunReport, isoformat_z

__all__ = [
    "CreatedRun",
    "ReportConflict",
    "ReportFailed",
    "ReportRejected",
    "Reporter",
    "ReporterError",
    "RetryPolicy",
    "RunReport",
]

logger = logging.getLogger(__name__)

Detail = str | list[Any] | dict[str, Any] | None


class ReporterError(Exception):
    """The report did not reach the service."""


class ReportRejected(ReporterError):
    """The service refused the report (a 4xx other than 429); resending it will not help."""

    def __init__(self, status_code: int, detail: Detail) -> None:
        self.status_code = status_code
        self.detail = detail
        shown = detail if isinstance(detail, str) else json.dumps(detail)
        super().__init__(f"pipepulse rejected the report with {status_code}: {shown}")


class ReportConflict(ReportRejected):
    """409: the run already holds a different report, or the run_id a different body."""


class ReportFailed(ReporterError):
    """Every attempt failed with a network error, a 5xx or a 429."""

    def __init__(self, attempts: int, last_failure: str) -> None:
        self.attempts = attempts
        self.last_failure = last_failure
        super().__init__(f"gave up after {attempts} attempts: {last_failure}")


@dataclass(frozen=True)
class CreatedRun:
    """The run the service holds after `create_run`; `created` is False for a repeat."""

    created: bool
    run: dict[str, Any]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def new_run_id() -> str:
    """A client-chosen run id, so a resent create can never make a second run."""
    return f"run_{uuid.uuid4().hex}"


def _detail_of(response: httpx.Response) -> Detail:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        detail: Detail = body["detail"]
        return detail
    return response.text[:500]


def _is_retryable(status_code: int) -> bool:
    return status_code == 429 or status_code >= 500


# Long enough to ride out a database or server restart: a report given up on too early is a
# run that ends up orphaned although the loader did its work.
DEFAULT_BUDGET_S = 600.0
# Attempts are bounded by the time budget unless a RetryPolicy says otherwise.
DEFAULT_RETRY = RetryPolicy(max_attempts=1_000_000, base_delay_s=0.5, max_delay_s=30.0)


class Reporter:
    """Talks to `…/warehouse-connections/{id}/metrics/` with a service key, retrying safely."""

    def __init__(
        self,
        base_url: str,
        service_key: str,
        *,
        retry: RetryPolicy | None = None,
        budget_s: float = DEFAULT_BUDGET_S,
        timeout_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if budget_s <= 0:
            raise ValueError("budget_s must be positive")
        self.retry = retry or DEFAULT_RETRY
        self.budget_s = budget_s
        self._monotonic = monotonic
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {service_key}",
                "User-Agent": f"pipepulse-loader/{__version__}",
            },
            timeout=timeout_s,
            transport=transport,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **options: Any) -> Reporter:
        """A reporter for `PIPEPULSE_LOADER_API_URL` with `PIPEPULSE_LOADER_SERVICE_KEY`."""
        base_url = environ.get("PIPEPULSE_LOADER_API_URL", "").strip()
        service_key = environ.get("PIPEPULSE_LOADER_SERVICE_KEY", "").strip()
        if not base_url or not service_key:
            raise ReporterError("PIPEPULSE_LOADER_API_URL and PIPEPULSE_LOADER_SERVICE_KEY must both be set")
        attempts = environ.get("PIPEPULSE_LOADER_REPORT_ATTEMPTS", "").strip()
        if attempts and "retry" not in options:
            if not attempts.isdigit() or int(attempts) < 1:
                raise ReporterError("PIPEPULSE_LOADER_REPORT_ATTEMPTS must be a positive integer")
            options["retry"] = RetryPolicy(
                max_attempts=int(attempts),
                base_delay_s=DEFAULT_RETRY.base_delay_s,
                max_delay_s=DEFAULT_RETRY.max_delay_s,
            )
        budget = environ.get("PIPEPULSE_LOADER_REPORT_BUDGET_SECONDS", "").strip()
        if budget and "budget_s" not in options:
            try:
                options["budget_s"] = float(budget)
            except ValueError:
                raise ReporterError("PIPEPULSE_LOADER_REPORT_BUDGET_SECONDS must be a number") from None
            if not 0 < options["budget_s"] < float("inf"):
                raise ReporterError("PIPEPULSE_LOADER_REPORT_BUDGET_SECONDS must be positive")
        return cls(base_url, service_key, **options)

    def __enter__(self) -> Reporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def create_run(
        self,
        organisation_id: int,
        connection_id: str,
        *,
        started_at: datetime,
        run_id: str | None = None,
        report: RunReport | None = None,
    ) -> CreatedRun:
        """Create a pending run, or with `report` a finished one, in one idempotent call."""
        body: dict[str, Any] = {
            "run_id": run_id or new_run_id(),
            "started_at": isoformat_z(started_at),
        }
        if report is not None:
            body.update(report.to_json())
        response = self._send("POST", self._runs_path(organisation_id, connection_id), body)
        return CreatedRun(created=response.status_code == 201, run=response.json())

    def report_run(self, organisation_id: int, connection_id: str, run_id: str, report: RunReport) -> None:
        """Complete a run the scheduler seeded; repeating the same report is harmless."""
        path = f"{self._runs_path(organisation_id, connection_id)}{quote(run_id, safe='')}/"
        self._send("PATCH", path, report.to_json())

    @staticmethod
    def _runs_path(organisation_id: int, connection_id: str) -> str:
        return (
            f"/api/v1/organisations/{int(organisation_id)}/integrations/"
            f"warehouse-connections/{quote(connection_id, safe='')}/metrics/"
        )

    def _send(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        """Send until accepted, refused, or out of attempts or time.

        Reports are idempotent, so resending after an answer that never arrived is safe: if an
        earlier attempt was stored, the resend is answered as an identical repeat (204 for a
        PATCH, 200 for a create) and counts as success like any 2xx.
        """
        # Time spent: the requests as measured plus the waits as asked for (so a test's fake
        # sleep spends the budget the way real waiting would).
        spent = 0.0
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            began = self._monotonic()
            try:
                response = self._client.request(method, path, json=body)
            except httpx.TransportError as exc:
                failure = f"{method} {path}: {type(exc).__name__}: {exc}"
            else:
                if 200 <= response.status_code < 300:
                    return response
                if not _is_retryable(response.status_code):
                    if response.status_code == 409:
                        raise ReportConflict(response.status_code, _detail_of(response))
                    raise ReportRejected(response.status_code, _detail_of(response))
                failure = f"{method} {path}: HTTP {response.status_code}"
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
            spent += max(0.0, self._monotonic() - began)
            remaining = self.budget_s - spent
            if attempt >= self.retry.max_attempts or remaining <= 0:
                raise ReportFailed(attempt, failure)
            delay = self.retry.delay_s(attempt, self._jitter())
            if retry_after is not None:
                # The server knows when it will be back; a cap keeps a Lambda from idling out.
                delay = min(retry_after, self.retry.max_delay_s)
            delay = min(delay, remaining)
            logger.warning(
                "report attempt failed, retrying",
                extra={"attempt": attempt, "failure": failure, "delay_s": delay},
            )
            self._sleep(delay)
            spent += delay
