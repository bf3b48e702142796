"""Request bodies: refused before they are buffered (SPEC §4.8).

- A body sent without credentials to an endpoint that needs a bearer is answered 401 before
  a byte of it is read: an anonymous client cannot make the server hold its upload.
- A ``Content-Length`` above the limit is 413 before reading; a body without one (chunked)
  is counted as it streams in and cut off with 413 the moment it passes the limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` mid-stream; FastAPI passes HTTPExceptions through to the handlers."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_text(limit))


def too_large_text(limit: int) -> str:
    return f"request body is larger than {limit} bytes; send less per request"


async def reply(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        needs_bearer: Callable[[Scope], bool],
        missing_bearer: str,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.needs_bearer = needs_bearer
        self.missing_bearer = missing_bearer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: int | None = None
        streamed = has_auth = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                streamed = True
            elif name == b"authorization":
                has_auth = True
        if not streamed and not length:
            await self.app(scope, receive, send)
            return
        if not has_auth and self.needs_bearer(scope):
            await reply(send, 401, self.missing_bearer, {"WWW-Authenticate": "Bearer", "Connection": "close"})
            return
        if length is not None and length > self.max_bytes:
            await reply(send, 413, too_large_text(self.max_bytes), {"Connection": "close"})
            return
        await self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Whatever the app made of the interrupted read, the answer is the 413.
            if too_large and message["type"] == "http.response.start" and message["status"] != 413:
                return
            if too_large and not started and message["type"] == "http.response.body":
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass
        if too_large and not started:
            await reply(send, 413, too_large_text(self.max_bytes), {"Connection": "close"})
