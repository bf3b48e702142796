"""CPU per request of the hot routes, in process (no HTTP server, no load generator).

Each request goes through pipepulse's whole ASGI app (middleware, routing, dependencies,
validation, the database) by ``httpx.ASGITransport``, one after another, and the process's
CPU time (``time.process_time``: every thread of this process, so SQLite's too, but not the
PostgreSQL server) is divided by the number of requests. The client's own cost is in every
figure alike, so figures compare between versions of the app, not with the wrk rows.

Routes: ``GET …/telemetry/`` of one connection (its stored answer warm), ``PATCH
…/metrics/{run_id}/`` (a distinct pending run each) and ``POST /runs/reports/`` (a batch of
``--batch`` distinct pending runs each). ``--profile`` adds a cProfile (CPU time) of 500 telemetry
requests, top 15 by cumulative time.

    python -m bench.request_cpu --database sqlite
    python -m bench.request_cpu --database postgres --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import insert

from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db import migrate
from pipepulse.db.engine import create_engine
from pipepulse.db.models import Run
from pipepulse.db.session import Database
from pipepulse.delivery.channels import keys as channel_keys
from pipepulse.organisations import service as organisations_service

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ADMIN_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
WARM_UP = 50


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@asynccontextmanager
async def scratch_database(kind: str) -> AsyncIterator[str]:
    """A fresh, empty database's URL, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'inprocess.db'}"
        return
    name = f"pipepulse_inprocess_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_PG)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin = await asyncpg.connect(ADMIN_PG)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def seed_pending(
    db: Database, connection_id: str, organisation_id: int, prefix: str, count: int
) -> None:
    rows = [
        {
            "connection_id": connection_id,
            "id": f"{prefix}{i:06d}",
            "organisation_id": organisation_id,
            "started_at": NOW - timedelta(minutes=30),
            "outcome": "pending",
            "events_delivered": 0,
            "batches_dlq": 0,
            "created_at": NOW - timedelta(minutes=30),
        }
        for i in range(count)
    ]
    async with db.session(write=True) as session:
        for start in range(0, count, 1000):
            await session.execute(insert(Run), rows[start : start + 1000])


async def timed(label: str, requests: int, one: Callable[[int], Awaitable[None]]) -> dict[str, Any]:
    for i in range(WARM_UP):
        await one(i)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(WARM_UP, WARM_UP + requests):
        await one(i)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "route": label,
        "requests": requests,
        "cpu_ms_per_request": round(cpu / requests * 1000, 3),
        "wall_ms_per_request": round(wall / requests * 1000, 3),
    }


async def run(
    kind: str, requests: int, batch: int, batch_requests: int, profile: str | None
) -> dict[str, Any]:
    async with scratch_database(kind) as url:
        data_dir = Path(tempfile.mkdtemp(prefix="pipepulse-inprocess-"))
        settings = Settings(
            database_url=url,
            data_dir=data_dir,
            secret_key="inprocess-bench-secret-key-32-chars!",
            dispatcher="none",
        )
        db = Database(create_engine(settings.resolved_database_url))
        channel_keys.install(settings)
        await migrate.upgrade(db.engine)
        try:
            return await measure(db, settings, requests, batch, batch_requests, profile)
        finally:
            await db.dispose()


async def measure(
    db: Database, settings: Settings, requests: int, batch: int, batch_requests: int, profile: str | None
) -> dict[str, Any]:
    async with db.session(write=True) as session:
        org = await organisations_service.create(session, slug="bench", name="Bench", now=NOW)
        reader = await auth_service.create_token(
            session, organisation_id=org.id, scopes=list(scopes.ALL), name="r", now=NOW
        )
        key = await auth_service.create_service_key(session, name="loader", now=NOW)
    app = create_app(settings, clock=lambda: NOW, database=db)
    read = {"Authorization": f"Bearer {reader.token}"}
    write = {"Authorization": f"Bearer {key.key}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        base = f"/api/v1/organisations/{org.id}/integrations/warehouse-connections/"
        made = await client.post(
            base, json={"name": "W", "type": "snowflake", "state": "connected"}, headers=read
        )
        connection_id = made.json()["id"]
        conn_url = f"{base}{connection_id}/"
        for i in range(48):  # a day of runs, one a half hour, one in twelve failed
            started = NOW - timedelta(minutes=30 * (i + 1))
            body: dict[str, Any] = {
                "started_at": iso(started),
                "completed_at": iso(started + timedelta(minutes=5)),
                "events_delivered": 1000 + i,
            }
            if i % 12 == 0:
                body["error"] = f"timeout after {i} s"
            pushed = await client.post(conn_url + "metrics/", json=body, headers=write)
            assert pushed.status_code == 201, pushed.text
        await seed_pending(db, connection_id, org.id, "p_", WARM_UP + requests)
        await seed_pending(db, connection_id, org.id, "b_", (WARM_UP + batch_requests) * batch)

        async def telemetry(_: int) -> None:
            response = await client.get(conn_url + "telemetry/", headers=read)
            assert response.status_code == 200, response.text

        report = {"completed_at": iso(NOW - timedelta(minutes=1)), "events_delivered": 10}

        async def patch(i: int) -> None:
            response = await client.patch(f"{conn_url}metrics/p_{i:06d}/", json=report, headers=write)
            assert response.status_code == 204, response.text

        async def batch_reports(i: int) -> None:
            items = [
                {**report, "organisation_id": org.id, "connection_id": connection_id, "run_id": f"b_{j:06d}"}
                for j in range(i * batch, (i + 1) * batch)
            ]
            response = await client.post("/api/v1/runs/reports/", json=items, headers=write)
            assert response.status_code == 200, response.text
            assert all(r["status"] == 204 for r in response.json()["results"]), response.text

        rows = []
        for label, count, one in (
            ("GET …/telemetry/", requests, telemetry),
            ("PATCH …/metrics/{run_id}/", requests, patch),
            (f"POST /runs/reports/ ({batch} a request)", batch_requests, batch_reports),
        ):
            rows.append(await timed(label, count, one))
            print(json.dumps({"database": db.dialect, **rows[-1]}), flush=True)
        profile_text = None
        if profile:
            # CPU time, not wall time: on a shared machine waiting would swamp the picture.
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for i in range(500):
                await telemetry(i)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(profile).print_stats(15)
            profile_text = out.getvalue()
    return {"database": db.dialect, "rows": rows, "profile": profile_text}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=10, help="reports per batch request")
    parser.add_argument("--batch-requests", type=int, help="batch requests (default: --requests)")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="cumulative",
        help="cProfile 500 telemetry requests; print the top 15 by this key (cumulative, tottime)",
    )
    args = parser.parse_args()
    batch_requests = args.batch_requests or args.requests
    result = asyncio.run(run(args.database, args.requests, args.batch, batch_requests, args.profile))
    if result["profile"]:
        print(result["profile"])


if __name__ == "__main__":
    main()
