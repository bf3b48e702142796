"""How a seeded run reaches its loader: in-process, over HTTP, or as an AWS Lambda event."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

import httpx

from pipepulse.clock import utc_now
from pipepulse.config import Settings
from pipepulse.db.models import WarehouseConnection
from pipepulse.db.session import Database
from pipepulse.loader.signature import expected_signature
from pipepulse.redaction import redact_text, redact_url
from pipepulse.scheduler.jobs import SeededRun

log = logging.getLogger(__name__)


class DispatchFailed(Exception):
    """The loader could not be invoked; the run is marked failed with this reason.

    The reason is stored on the run, where every reader of the organisation sees it, so any
    URL in it is shown without credentials.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(redact_text(reason))


class Dispatcher(Protocol):
    async def dispatch(self, run: SeededRun) -> None: ...

    async def drain(self) -> None:
        """Wait for work the dispatcher started in the background (in-process loads)."""
        ...

    async def close(self) -> None: ...


class NoDispatcher:
    """Seed only: a loader that polls or is triggered elsewhere completes the runs."""

    async def dispatch(self, run: SeededRun) -> None:  # noqa: ARG002
        return None

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        return None


class HttpDispatcher:
    """POSTs the payload to a loader URL, signed so the loader can verify it came from us."""

    def __init__(self, url: str, secret: str, *, timeout_s: float = 10.0, pool_size: int = 64) -> None:
        if not url:
            raise ValueError("PIPEPULSE_LOADER_URL is required for the http dispatcher")
        if not secret:
            # Unsigned invocations would let anyone who can reach the loader start runs.
            raise ValueError(
                "PIPEPULSE_LOADER_SIGNING_SECRET is required for the http dispatcher: loaders "
                "verify every invocation with it (pipepulse.loader.signature.verify)"
            )
        self.url = url
        self.shown_url = redact_url(url)
        self.secret = secret
        # One pooled client for every invocation: connections to the loader are kept alive
        # and reused, as many as the fan-out has invocations in flight. An idle connection is
        # dropped after 4 s, before common servers' 5 s idle timeout closes it under a request.
        self.client = httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=pool_size, max_keepalive_connections=pool_size, keepalive_expiry=4.0
            ),
        )

    async def dispatch(self, run: SeededRun) -> None:
        body = json.dumps(run.payload(), separators=(",", ":")).encode()
        timestamp = str(int(utc_now().timestamp()))
        headers = {
            "content-type": "application/json",
            "x-pipepulse-timestamp": timestamp,
            # HMAC-SHA256 over timestamp + "." + body; loaders check it with loader.signature.verify.
            "x-pipepulse-signature": expected_signature(self.secret, timestamp, body),
        }
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DispatchFailed(
                f"loader invocation failed: {type(exc).__name__}: {exc} ({self.shown_url})"
            ) from exc
        if response.status_code >= 300:
            raise DispatchFailed(
                f"loader invocation failed: HTTP {response.status_code} from {self.shown_url}"
            )

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        await self.client.aclose()


class LambdaDispatcher:
    """AWS Lambda asynchronous invoke (``InvocationType=Event``); needs the ``lambda`` extra."""

    def __init__(self, function_name: str, client: Any | None = None) -> None:
        if not function_name:
            raise ValueError("PIPEPULSE_LAMBDA_FUNCTION_NAME is required for the lambda dispatcher")
        if client is None:
            try:
                import boto3
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ValueError(
                    "the lambda dispatcher needs boto3: pip install 'pipepulse[lambda]'"
                ) from exc
            client = boto3.client("lambda")
        self.function_name = function_name
        self.client = client

    async def dispatch(self, run: SeededRun) -> None:
        payload = json.dumps(run.payload()).encode()
        try:
            response = await asyncio.to_thread(
                self.client.invoke, FunctionName=self.function_name, InvocationType="Event", Payload=payload
            )
        except Exception as exc:  # botocore raises many types; every one means "not invoked"
            raise DispatchFailed(f"lambda invocation failed: {type(exc).__name__}: {exc}") from exc
        status = response.get("StatusCode")
        if status != 202:
            raise DispatchFailed(f"lambda invocation failed: status {status}")

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        return None


class LocalDispatcher:
    """Runs the reference loader in this process (the embedded default) and records its report."""

    def __init__(self, db: Database, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(4)

    async def dispatch(self, run: SeededRun) -> None:
        task = asyncio.create_task(self._load(run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(self, run: SeededRun) -> None:
        from pipepulse.loader.config import LoaderConfig
        from pipepulse.loader.job import LoaderJob
        from pipepulse.loader.runner import load_run
        from pipepulse.runs import service as runs_service
        from pipepulse.runs.schemas import RunReport

        async with self._limit:
            try:
                async with self.db.session() as session:
                    connection = await session.get(WarehouseConnection, run.connection_id)
                    connection_config = dict(connection.config) if connection else {}
                config = LoaderConfig(
                    source_root=self.settings.loader_source_root or self.settings.data_dir / "source",
                    destination_url=self.settings.loader_destination
                    or f"duckdb:///{self.settings.data_dir / 'warehouse.duckdb'}",
                ).with_connection_config(connection_config)
                job = LoaderJob(run.run_id, run.connection_id, run.organisation_id)
                report = await asyncio.to_thread(load_run, job, config, now=self.clock)
                body = RunReport(
                    completed_at=report.completed_at,
                    events_delivered=report.events_delivered,
                    batches_dlq=report.batches_dlq,
                    error=report.error,
                    events_by_type=_configured_types(report.events_by_type, connection),
                    latency_ms=report.latency_ms,
                    events_pending=report.events_pending,
                    bytes_delivered=report.bytes_delivered,
                )
                async with self.db.session(write=True) as session:
                    if connection is None:
                        return
                    one = runs_service.Report(0, connection.organisation_id, connection.id, run.run_id, body)
                    await runs_service.report(session, one, self.clock())
            except Exception as exc:
                log.warning(
                    "local load failed", extra={"run_id": run.run_id, "connection_id": run.connection_id}
                )
                async with self.db.session(write=True) as session:
                    await runs_service.fail_pending(
                        session,
                        run.connection_id,
                        run.run_id,
                        f"loader crashed: {type(exc).__name__}: {exc}",
                        self.clock(),
                    )

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()


def _configured_types(
    events_by_type: Mapping[str, int] | None, connection: WarehouseConnection | None
) -> dict[str, int] | None:
    """The reference loader always names both of its types; drop empty ones a connection doesn't list."""
    if events_by_type is None:
        return None
    listed = set(connection.event_types) if connection is not None else set()
    return {k: v for k, v in events_by_type.items() if v or k in listed}


def build(settings: Settings, db: Database, clock: Callable[[], datetime]) -> Dispatcher:
    if settings.dispatcher == "local":
        return LocalDispatcher(db, settings, clock)
    if settings.dispatcher == "http":
        return HttpDispatcher(settings.loader_url, settings.loader_signing_secret)
    if settings.dispatcher == "lambda":
        return LambdaDispatcher(settings.lambda_function_name)
    return NoDispatcher()
