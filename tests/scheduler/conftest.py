"""A real HTTP loader endpoint on 127.0.0.1 that records what the scheduler sends it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest


class LoaderEndpoint(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    status = 202

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # noqa: ARG002
        return None


@pytest.fixture
def loader_endpoint() -> Iterator[tuple[str, type[LoaderEndpoint]]]:
    handler = type("Endpoint", (LoaderEndpoint,), {"received": [], "status": 202})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/invoke", handler
    server.shutdown()
