"""What a request may carry: bodies up to PIPEPULSE_MAX_BODY_BYTES (refused before they are
buffered), a connection config up to 16 KB, and text that is valid Unicode (SPEC §4.6, §4.8)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import Body
from sqlalchemy import func, select

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.models import Organisation, Run
from pipepulse.db.session import Database
from pipepulse.deps import WriteSession
from tests.conftest import FrozenClock, Tenant, iso
from tests.throwaway_postgres import free_port

LIMIT = 4096


@pytest.fixture
async def small_client(settings: Settings, db: Database, clock: FrozenClock) -> Any:
    app = create_app(settings.model_copy(update={"max_body_bytes": LIMIT}), clock=clock, database=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://pipepulse.test") as client:
        yield client


async def test_body__over_the_limit__413_and_nothing_written(
    small_client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    body = {"name": "x" * LIMIT, "type": "duckdb"}
    response = await small_client.post(tenant.connections_url(), json=body, headers=tenant.write)
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body is larger than {LIMIT} bytes; send less per request"}
    assert response.headers["content-type"] == "application/json"
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Run)) == 0
    listed = await small_client.get(tenant.connections_url(), headers=tenant.read)
    assert listed.json()["total"] == 0


async def test_body__streamed_without_length_past_the_limit__413(
    small_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    async def chunks() -> Any:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 1024
        yield b'", "type": "duckdb"}'

    response = await small_client.post(
        tenant.connections_url(),
        content=chunks(),
        headers={**tenant.write, "content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_body__under_the_limit__served(small_client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await small_client.post(
        tenant.connections_url(),
        json={"name": "x", "type": "duckdb", "config": {"notes": "x" * 3000}},
        headers=tenant.write,
    )
    assert response.status_code == 201


async def test_body__without_credentials__401_before_the_body_is_read(
    settings: Settings, db: Database, clock: FrozenClock, tenant: Tenant
) -> None:
    app = create_app(settings, clock=clock, database=db)
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"{}" * 100, "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": tenant.connections_url(),
        "raw_path": tenant.connections_url().encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"52428800")],
        "client": ("127.0.0.1", 5000),
        "server": ("pipepulse.test", 80),
    }
    await app(scope, receive, send)
    assert reads == 0
    assert sent[0]["status"] == 401
    headers = dict(sent[0]["headers"])
    assert headers[b"www-authenticate"] == b"Bearer"
    assert json.loads(sent[1]["body"])["detail"].startswith("missing bearer token")


async def test_config__over_16_kb__422_naming_the_limit(client: httpx.AsyncClient, tenant: Tenant) -> None:
    big = {"name": "Big", "type": "duckdb", "config": {"notes": "x" * (16 * 1024)}}
    response = await client.post(tenant.connections_url(), json=big, headers=tenant.write)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "config"]
    assert "16 KB" in problem["msg"]
    # Exactly 16 KB of compact JSON is kept.
    fits = {"notes": "x" * (16 * 1024 - len('{"notes":""}'))}
    ok = await client.post(
        tenant.connections_url(),
        json={"name": "Fits", "type": "duckdb", "config": fits},
        headers=tenant.write,
    )
    assert ok.status_code == 201, ok.text
    update = await client.patch(
        tenant.connection_url(ok.json()["id"]), json={"config": big["config"]}, headers=tenant.write
    )
    assert update.status_code == 422


def raw_json(body: dict[str, Any]) -> bytes:
    """JSON as a client sends it: a lone surrogate travels as its \\ud800 escape."""
    return json.dumps(body).encode()


SURROGATES = ["\ud800", "a\udfffb", "\udc00\ud800"]


@pytest.mark.parametrize("text", SURROGATES)
async def test_surrogate__in_a_report_error__422_nothing_written(
    client: httpx.AsyncClient,
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
    tenant: Tenant,
    connection: dict[str, Any],
    text: str,
) -> None:
    seeded = await client.post(
        runs_url,
        json={"run_id": "r1", "started_at": iso(clock.now - timedelta(minutes=2))},
        headers=service_key,
    )
    assert seeded.status_code == 201
    headers = {**service_key, "content-type": "application/json"}
    report = {"completed_at": iso(clock.now), "events_delivered": 0, "error": text}
    patched = await client.patch(runs_url + "r1/", content=raw_json(report), headers=headers)
    pushed = await client.post(
        runs_url,
        content=raw_json({"started_at": iso(clock.now - timedelta(minutes=1)), **report}),
        headers=headers,
    )
    keyed = await client.patch(
        runs_url + "r1/",
        content=raw_json({"completed_at": iso(clock.now), "events_by_type": {text: 0}}),
        headers=headers,
    )
    for response in (patched, pushed, keyed):
        assert response.status_code == 422, response.text
        assert "lone surrogate" in response.json()["detail"][0]["msg"]
    run = (await client.get(runs_url + "r1/", headers=tenant.read)).json()
    assert run["outcome"] == "pending"
    assert (await client.get(runs_url, headers=tenant.read)).json()["total"] == 1


@pytest.mark.parametrize("where", ["name", "config value", "config key"])
async def test_surrogate__in_a_connection__422_nothing_written(
    client: httpx.AsyncClient, tenant: Tenant, where: str
) -> None:
    body: dict[str, Any] = {"name": "ok", "type": "duckdb"}
    if where == "name":
        body["name"] = "\ud800"
    elif where == "config value":
        body["config"] = {"region": "eu-\ud800"}
    else:
        body["config"] = {"\ud800": 1}
    headers = {**tenant.write, "content-type": "application/json"}
    response = await client.post(tenant.connections_url(), content=raw_json(body), headers=headers)
    assert response.status_code == 422
    assert (await client.get(tenant.connections_url(), headers=tenant.read)).json()["total"] == 0


async def test_surrogate__in_bulk_ids__422(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/api/v1/telemetry/metrics/",
        content=raw_json({"ids": ["\ud800"]}),
        headers={**tenant.read, "content-type": "application/json"},
    )
    assert response.status_code == 422


async def test_surrogate_pair__a_real_character__kept(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        tenant.connections_url(),
        content=raw_json({"name": "rocket \U0001f680", "type": "duckdb"}),
        headers={**tenant.write, "content-type": "application/json"},
    )
    assert response.status_code == 201
    assert response.json()["name"] == "rocket \U0001f680"


async def test_surrogate__reaching_the_database_another_way__422_and_rolled_back(
    settings: Settings, db: Database, clock: FrozenClock
) -> None:
    """A body model that forgets StrictModel still cannot turn a lone surrogate into a 500."""
    app = create_app(settings, clock=clock, database=db)

    @app.post("/api/v1/test-raw-organisations/")
    async def raw(session: WriteSession, body: dict[str, Any] = Body()) -> dict[str, str]:
        session.add(Organisation(slug="raw", name=body["name"], created_at=clock.now))
        await session.flush()
        return {"status": "stored"}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/api/v1/test-raw-organisations/",
            content=raw_json({"name": "\ud800"}),
            headers={"content-type": "application/json", "authorization": "Bearer x"},
        )
    assert response.status_code == 422
    assert "lone surrogate" in response.json()["detail"][0]["msg"]
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Organisation)) == 0


# Over real HTTP: what an attacker's upload costs the server.


@pytest.fixture(scope="module")
def live_server(settings: Settings, migrated_db: Any) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEPULSE_")}
    env.update(
        PIPEPULSE_DATABASE_URL=settings.database_url,
        PIPEPULSE_DATA_DIR=str(settings.data_dir),
        PIPEPULSE_MAX_BODY_BYTES="65536",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "pipepulse", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield base
    process.terminate()
    _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr, stderr


def _exchange(base: str, head: str, body_parts: Iterator[bytes]) -> tuple[int, float]:
    """Send the head, then the body as long as the server reads; return status and seconds taken."""
    host, port = base.split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        try:
            for part in body_parts:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: it did not want the rest
        sock.settimeout(10)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), time.monotonic() - started


def _head(method: str, path: str, headers: dict[str, str]) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: pipepulse.test", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def test_upload__50_mb_declared_without_credentials__401_without_waiting_for_the_body(
    live_server: str, tenant: Tenant
) -> None:
    head = _head("POST", tenant.connections_url(), {"Content-Length": str(50 * 1024 * 1024)})
    # Only 1 KB of the 50 MB ever goes out: an answer proves the server did not wait for more.
    status, seconds = _exchange(live_server, head, iter([b"{" + b" " * 1023]))
    assert status == 401
    assert seconds < 5


def test_upload__50_mb_declared_with_credentials__413_without_waiting_for_the_body(
    live_server: str, tenant: Tenant
) -> None:
    head = _head(
        "POST",
        tenant.connections_url(),
        {"Content-Length": str(50 * 1024 * 1024), "Authorization": f"Bearer {tenant.writer}"},
    )
    status, seconds = _exchange(live_server, head, iter([b"{" + b" " * 1023]))
    assert status == 413
    assert seconds < 5


def test_upload__chunked_past_the_limit__413_while_streaming(live_server: str, tenant: Tenant) -> None:
    head = _head(
        "POST",
        tenant.connections_url(),
        {"Transfer-Encoding": "chunked", "Authorization": f"Bearer {tenant.writer}"},
    )

    def chunks() -> Iterator[bytes]:
        piece = b" " * 16384
        for _ in range(64):  # 1 MB in all, far past the 64 KB limit; the server stops reading early
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"

    status, _ = _exchange(live_server, head, chunks())
    assert status == 413
