"""A small sync client a loader uses to create and report runs to the pipepulse API.

With ``batch_size`` set, reports are queued and sent together (``POST /api/v1/runs/reports/``)
once that many wait or the oldest has waited ``batch_linger_s``; every report is still judged
on its own by the service, and the ones it refuses are kept in :attr:`Reporter.refused`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from pipepulse import __version__
from pipepulse.clock import utc_now as _utc_now
from pipepulse.reporter.backoff import RetryPolicy, parse_retry_after
from pipepulse.reporter.report_body import RunReportBody, isoformat_z

__all__ = [
    "MAX_BATCH",
    "CreatedRun",
    "ReportConflict",
    "ReportFailed",
    "ReportOutcome",
    "ReportRejected",
    "Reporter",
    "ReporterError",
    "RetryPolicy",
    "RunReportBody",
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


# Long enough to ride out a database or server restart: a report given up on too early is a
# run that ends up orphaned although the loader did its work.
DEFAULT_BUDGET_S = 600.0
# Attempts are bounded by the time budget unless a RetryPolicy says otherwise.
DEFAULT_RETRY = RetryPolicy(max_attempts=1_000_000, base_delay_s=0.5, max_delay_s=30.0)

# The service takes at most this many reports in one request.
MAX_BATCH = 1000
BATCH_PATH = "/api/v1/runs/reports/"


@dataclass(frozen=True)
class ReportOutcome:
    """What the service answered for one report of a batch: the single PATCH's status."""

    organisation_id: int
    connection_id: str
    run_id: str
    status_code: int
    detail: Detail = None

    @property
    def accepted(self) -> bool:
        """Recorded now or before (an identical repeat): 204."""
        return self.status_code == 204


@dataclass(frozen=True)
class _Queued:
    organisation_id: int
    connection_id: str
    run_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class CreatedRun:
    """The run the service holds after `create_run`; `created` is False for a repeat."""

    created: bool
    run: dict[str, Any]


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
        batch_size: int | None = None,
        batch_linger_s: float = 1.0,
        budget_s: float = DEFAULT_BUDGET_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``batch_size`` (1 to 1,000) turns on batching: :meth:`report_run` queues, and the
        queue is sent when it holds that many reports, when the oldest has waited
        ``batch_linger_s``, on :meth:`flush` and on :meth:`close`."""
        if batch_size is not None and not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}, got {batch_size}")
        if batch_linger_s < 0:
            raise ValueError(f"batch_linger_s must not be negative, got {batch_linger_s}")
        self.batch_size = batch_size
        self.batch_linger_s = batch_linger_s
        self.refused: list[ReportOutcome] = []
        self._queue: list[_Queued] = []
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None
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
        batch_size = environ.get("PIPEPULSE_LOADER_REPORT_BATCH_SIZE", "").strip()
        if batch_size and "batch_size" not in options:
            if not batch_size.isdigit():
                raise ReporterError("PIPEPULSE_LOADER_REPORT_BATCH_SIZE must be an integer")
            options["batch_size"] = int(batch_size)
        linger = environ.get("PIPEPULSE_LOADER_REPORT_LINGER_SECONDS", "").strip()
        if linger and "batch_linger_s" not in options:
            try:
                options["batch_linger_s"] = float(linger)
            except ValueError:
                raise ReporterError("PIPEPULSE_LOADER_REPORT_LINGER_SECONDS must be a number") from None
        try:
            return cls(base_url, service_key, **options)
        except ValueError as exc:
            raise ReporterError(str(exc)) from None

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
        """Send what is still queued, then release the connection pool."""
        try:
            self.flush()
        finally:
            self._client.close()

    def create_run(
        self,
        organisation_id: int,
        connection_id: str,
        *,
        started_at: datetime,
        run_id: str | None = None,
        report: RunReportBody | None = None,
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

    def report_run(
        self, organisation_id: int, connection_id: str, run_id: str, report: RunReportBody
    ) -> None:
        """Complete a run the scheduler seeded; repeating the same report is harmless.

        When batching, the report is queued: refusals surface in :attr:`refused` (and a
        batch that cannot be delivered raises :class:`ReportFailed` from the call that sends it).
        """
        if self.batch_size is None:
            path = f"{self._runs_path(organisation_id, connection_id)}{quote(run_id, safe='')}/"
            self._send("PATCH", path, report.to_json())
            return
        with self._lock:
            self._queue.append(_Queued(int(organisation_id), connection_id, run_id, report.to_json()))
            if len(self._queue) >= self.batch_size:
                self.flush()
            elif self._timer is None and self.batch_linger_s > 0:
                self._timer = threading.Timer(self.batch_linger_s, self._flush_quietly)
                self._timer.daemon = True
                self._timer.start()
            elif self.batch_linger_s == 0:
                self.flush()

    def flush(self) -> list[ReportOutcome]:
        """Send every queued report now; returns their outcomes, in order.

        Reports the service refuses (404, 409, 422) are also kept in :attr:`refused`. If the
        service cannot be reached after every retry, the reports stay queued (a later flush
        sends them again: resending is safe) and :class:`ReportFailed` is raised.
        """
        outcomes: list[ReportOutcome] = []
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            while self._queue:
                batch = self._queue[: self.batch_size or MAX_BATCH]
                outcomes += self._send_batch(batch)
                del self._queue[: len(batch)]
        return outcomes

    def _flush_quietly(self) -> None:
        """The linger timer: send what waits; a failure leaves it queued for the next send."""
        with self._lock:
            self._timer = None
            try:
                self.flush()
            except ReporterError as exc:
                logger.warning("queued reports not delivered yet", extra={"failure": str(exc)})

    def _send_batch(self, batch: list[_Queued]) -> list[ReportOutcome]:
        items = [
            {
                "organisation_id": q.organisation_id,
                "connection_id": q.connection_id,
                "run_id": q.run_id,
                **q.body,
            }
            for q in batch
        ]
        results = self._send("POST", BATCH_PATH, items).json()["results"]
        outcomes = [
            ReportOutcome(q.organisation_id, q.connection_id, q.run_id, int(r["status"]), r.get("detail"))
            for q, r in zip(batch, results, strict=True)
        ]
        refused = [o for o in outcomes if not o.accepted]
        for outcome in refused:
            logger.warning(
                "report refused",
                extra={"run_id": outcome.run_id, "status": outcome.status_code, "detail": outcome.detail},
            )
        self.refused += refused
        return outcomes

    @staticmethod
    def _runs_path(organisation_id: int, connection_id: str) -> str:
        return (
            f"/api/v1/organisations/{int(organisation_id)}/integrations/"
            f"warehouse-connections/{quote(connection_id, safe='')}/metrics/"
        )

    def _send(self, method: str, path: str, body: dict[str, Any] | list[dict[str, Any]]) -> httpx.Response:
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
