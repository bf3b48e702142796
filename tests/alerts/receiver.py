"""A real HTTP receiver on loopback that records every delivery and answers as it is told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def signature(self) -> str:
        return self.headers.get("Pipepulse-Signature", "")

    @property
    def signed_at(self) -> int:
        """The ``t=`` of the signature (the scheduler's clock when it sent; tests freeze it)."""
        return int(self.signature.split(",")[0].removeprefix("t="))

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    """Answers with ``statuses`` in turn (then ``default``); records what it was sent."""

    port: int = 0
    default: int = 204
    statuses: list[int] = field(default_factory=list)
    redirect_to: str | None = None
    delay_seconds: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/pipepulse?token=s3cr3t-query"

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else self.default

    def received(self, type_: str | None = None) -> list[Delivery]:
        with self.lock:
            found = list(self.deliveries)
        return [d for d in found if type_ is None or d.json.get("type") == type_]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                receiver.deliveries.append(Delivery(self.path, dict(self.headers.items()), body))
            status = receiver.next_status()
            time.sleep(receiver.delay_seconds)
            self.send_response(status)
            if 300 <= status < 400 and receiver.redirect_to:
                self.send_header("Location", receiver.redirect_to)
            payload = b"" if status == 204 else f"answer {status}".encode()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver", daemon=True
    )
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
