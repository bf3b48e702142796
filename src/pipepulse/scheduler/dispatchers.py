"""How a seeded run reaches its loader: over HTTP, as an AWS Lambda event, or in-process.

The invocation's body and signature are the wire contract (``pipepulse.wire``); the in-process
dispatcher lives in ``pipepulse.local_loader`` so the scheduler never imports the loader.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import httpx

from pipepulse.clock import utc_now
from pipepulse.config import Settings
from pipepulse.redaction import redact_text, redact_url
from pipepulse.scheduler.jobs import SeededRun
from pipepulse.wire.invocation_signature import expected_signature

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

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout_s: float = 10.0,
        pool_size: int = 64,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not url:
            raise ValueError("PIPEPULSE_LOADER_URL is required for the http dispatcher")
        if not secret:
            # Unsigned invocations would let anyone who can reach the loader start runs.
            raise ValueError(
                "PIPEPULSE_LOADER_SIGNING_SECRET is required for the http dispatcher: loaders "
                "verify every invocation with it (pipepulse.wire.invocation_signature.verify)"
            )
        self.url = url
        self.shown_url = redact_url(url)
        self.secret = secret
        # The signature's timestamp: the scheduler's clock, as every other instant it writes.
        self.clock = clock
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
        timestamp = str(int(self.clock().timestamp()))
        headers = {
            "content-type": "application/json",
            "x-pipepulse-timestamp": timestamp,
            # HMAC-SHA256 over timestamp + "." + body; loaders check it with wire.invocation_signature.verify.
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


def build(
    settings: Settings, local: Callable[[], Dispatcher], clock: Callable[[], datetime] = utc_now
) -> Dispatcher:
    """The dispatcher ``settings.dispatcher`` names; ``local()`` makes the in-process one.

    The in-process dispatcher runs the reference loader, which the scheduler does not import:
    the top layer (``pipepulse.local_loader``) passes it in.
    """
    if settings.dispatcher == "local":
        return local()
    if settings.dispatcher == "http":
        return HttpDispatcher(settings.loader_url, settings.loader_signing_secret, clock=clock)
    if settings.dispatcher == "lambda":
        return LambdaDispatcher(settings.lambda_function_name)
    return NoDispatcher()
