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


class Reporter:
    """Talks to `…/warehouse-connections/{id}/metrics/` with a service key, retrying safely."""

    def __init__(
        self,
        base_url: str,
        service_key: str,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = _utc_now,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
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
            if not attempts.isdigit():
                raise ReporterError("PIPEPULSE_LOADER_REPORT_ATTEMPTS must be an integer")
            options["retry"] = RetryPolicy(max_attempts=int(attempts))
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
        attempts = self.retry.max_attempts
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
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
            if attempt == attempts:
                raise ReportFailed(attempts, failure)
            delay = self.retry.delay_s(attempt, self._jitter())
            if retry_after is not None:
                # The server knows when it will be back; a cap keeps a Lambda from idling out.
                delay = min(retry_after, self.retry.max_delay_s)
            logger.warning(
                "report attempt failed, retrying",
                extra={"attempt": attempt, "failure": failure, "delay_s": delay},
            )
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
