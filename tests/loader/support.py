"""Helpers for the loader tests: a fixed clock, warehouses to count in, a scripted HTTP API."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from pipepulse.loader.config import LoaderConfig
from pipepulse.loader.generator import write_event_file

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return NOW


@dataclass
class Warehouse:
    """A real destination and a way to count what landed in it."""

    kind: str
    url: str
    table: str
    admin_url: str = ""
    schema: str = "main"

    def counts(self, connection_id: str) -> dict[str, int]:
        """Rows per event type for one connection."""
        query = f'SELECT event_type, count(*) FROM "{self.schema}"."{self.table}" '
        if self.kind == "duckdb":
            path = self.url.removeprefix("duckdb://").split("?")[0]
            with duckdb.connect(path) as connection:
                rows = connection.execute(
                    query + "WHERE connection_id = ? GROUP BY 1", [connection_id]
                ).fetchall()
        else:
            with psycopg.connect(self.admin_url) as connection:
                rows = connection.execute(
                    query + "WHERE connection_id = %s GROUP BY 1",
                    (connection_id,),
                ).fetchall()
        return {str(kind): int(count) for kind, count in rows}

    def total(self, connection_id: str) -> int:
        return sum(self.counts(connection_id).values())


def make_config(source_root: Path, warehouse: Warehouse, **changes: Any) -> LoaderConfig:
    return LoaderConfig(source_root=source_root, destination_url=warehouse.url, **changes)


def write_events(source_root: Path, relative: str, lines: list[str]) -> Path:
    """Write an event file by hand, gzipped when its name ends in `.gz`."""
    path = source_root / relative
    write_event_file(path, [line.encode() for line in lines])
    return path


def files_under(root: Path) -> list[str]:
    """Every file below `root`, as sorted relative paths."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ScriptedServer:
    """Answers requests from a script, in order, and records what it received."""

    url: str = ""
    script: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)

    def respond(self, status: int, body: Any = None, **headers: str) -> None:
        self.script.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                server.requests.append(
                    Recorded(
                        self.command,
                        self.path,
                        {key.lower(): value for key, value in self.headers.items()},
                        json.loads(raw) if raw else None,
                    )
                )
                # An unscripted request is a test bug: answer something no client retries into.
                status, headers, body = server.script.pop(0) if server.script else (418, {}, None)
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if payload:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PATCH = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
