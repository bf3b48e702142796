"""The app served for real on loopback (on the wall clock, as OpenLineage producers stamp events),
and a proxy that loses the first answer to every request, as a flaky load balancer does."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn

from pipepulse.app import create_app
from pipepulse.clock import utc_now
from pipepulse.config import Settings
from pipepulse.db.session import Database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_api(settings: Settings, db: Database) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, clock=utc_now), host="127.0.0.1", port=free_port(), log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, name="lineage-live-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live API did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=10)


class LossyProxy(ThreadingHTTPServer):
    """Forwards every POST to pipepulse; the first attempt of each body is answered 503 anyway,
    after pipepulse applied it, so the client's retry repeats a request that already counted."""

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream
        self.seen: set[bytes] = set()
        self.forwarded = 0
        self.lost = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: LossyProxy

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        answer = httpx.post(self.server.upstream + self.path, content=body, headers=headers, timeout=30)
        with self.server.lock:
            self.server.forwarded += 1
            first = body not in self.server.seen
            self.server.seen.add(body)
            if first:
                self.server.lost += 1
        if first:
            self._send(503, b'{"detail": "upstream unavailable"}', {"Retry-After": "0"})
        else:
            self._send(answer.status_code, answer.content, {})

    def _send(self, status: int, content: bytes, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def lossy_proxy(live_api: str) -> Iterator[LossyProxy]:
    proxy = LossyProxy(live_api)
    thread = threading.Thread(target=proxy.serve_forever, name="lineage-lossy-proxy", daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()
