"""In-process timings of the three hot paths, with no server or network between: a run
report through the service, a telemetry read through the app, an alert evaluation pass.

    .venv/bin/python bench/inprocess.py --url sqlite:////tmp/pipepulse_inprocess.db
    .venv/bin/python bench/inprocess.py --url postgresql://postgres@127.0.0.1:5432/pipepulse_inprocess

The database at ``--url`` is rebuilt on every run as a copy of a seeded one kept beside it
(``PATH.seed`` for SQLite, ``NAME_seed`` on PostgreSQL; made on first use and again when the
sizes change, since seeding is the slow part, and the same for every tree of the code timed).
It holds ``--connections`` connections, each with a day of runs (``--runs-per-day``, completed
through the report path so the rollups are the ones reports write; one in 50 failing). Timed:

- ``report``: ``--reports`` single reports, one per connection, each in its own statement
  session as ``PATCH …/metrics/{run_id}/`` makes it (``runs.service.report``);
- ``telemetry``: ``--reads`` ``GET …/telemetry/`` through the ASGI app in process (httpx's
  ASGITransport), each of a different connection so every read computes its answer;
- ``evaluation``: ``--passes`` full evaluation passes over every connection, after the first
  evaluations have settled (nothing changes between passes).

It prints the median (and p90) of each in milliseconds, and the load average around the run:
a figure is comparable only with one taken on the same machine under the same load. Compare
two trees of the code by running the same command with PYTHONPATH pointing at each.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from pipepulse.alerts import evaluation
from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db import migrate
from pipepulse.db.engine import create_engine
from pipepulse.db.models import Run, WarehouseConnection
from pipepulse.db.session import Database
from pipepulse.organisations import service as organisations_service
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import RunReport
from pipepulse.scheduler.runner import EVALUATION_STEPS

EVENT_TYPE = "orders"
BATCH = 500  # reports completed per set-up call


def seed_url(url: str) -> str:
    """Where the seeded copy of ``url`` is kept: ``NAME_seed`` beside it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(database=f"{parsed.database}.seed").render_as_string(hide_password=False)
    return parsed.set(database=f"{parsed.database}_seed").render_as_string(hide_password=False)


def _sidecar(url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"pipepulse_inprocess_{digest}.json"


def _fresh_file(path: str, template: str | None) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if template is not None:
        shutil.copyfile(template, path)


async def fresh_database(url: str, template: str | None = None) -> None:
    """An empty database at ``url`` (or a copy of ``template``): the SQLite file removed or
    copied, the PostgreSQL database dropped and created again."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _fresh_file(str(parsed.database), None if template is None else str(make_url(template).database))
        return
    admin = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database="postgres"
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        copy = f' TEMPLATE "{make_url(template).database}"' if template is not None else ""
        await admin.execute(f'CREATE DATABASE "{parsed.database}"{copy}')
    finally:
        await admin.close()


async def seeded(url: str, connections: int, runs_per_day: int) -> dict[str, Any]:
    """The seeded copy of ``url`` for these sizes (made once: seeding is the slow part), and
    what was seeded; ``url`` itself becomes a fresh copy of it."""
    source, sidecar = seed_url(url), _sidecar(url)
    wanted = {"connections": connections, "runs_per_day": runs_per_day}
    found = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    if {k: found.get(k) for k in wanted} != wanted:
        await fresh_database(source)
        db = Database(create_engine(Settings(database_url=source).resolved_database_url))
        now = datetime.now(UTC).replace(minute=20, second=0, microsecond=0)
        try:
            await migrate.upgrade(db.engine)
            began = time.perf_counter()
            org_id, reader, ids = await seed(db, connections, runs_per_day, now)
            print(f"seeded {source} in {time.perf_counter() - began:.1f} s")
        finally:
            await db.dispose()
        found = wanted | {"now": now.isoformat(), "org_id": org_id, "reader": reader, "ids": ids}
        sidecar.write_text(json.dumps(found))
    await fresh_database(url, template=source)
    return found


def report_body(completed_at: datetime, failing: bool) -> RunReport:
    if failing:
        return RunReport(completed_at=completed_at, error="warehouse refused the batch", batches_dlq=1)
    return RunReport(
        completed_at=completed_at, events_delivered=500, events_by_type={EVENT_TYPE: 500}, latency_ms=1200
    )


async def seed(
    db: Database, connections: int, runs_per_day: int, now: datetime
) -> tuple[int, str, list[str]]:
    """The organisation, a read token and the connections with their day of runs."""
    async with db.session(write=True) as session:
        org = await organisations_service.create(session, slug="inprocess", name="In process", now=now)
        token = await auth_service.create_token(
            session, organisation_id=org.id, scopes=[scopes.READ_PIPELINE_METRICS], name="bench", now=now
        )
        org_id, reader = org.id, token.token
    ids = [f"wc_inprocess_{i:06d}" for i in range(connections)]
    created = now - timedelta(days=30)
    step = timedelta(days=1) / runs_per_day
    async with db.session(write=True) as session:
        await session.execute(
            insert(WarehouseConnection),
            [
                {
                    "id": cid,
                    "organisation_id": org_id,
                    "name": f"pipeline {i}",
                    "type": "snowflake",
                    "integration_type": "warehouse_delivery",
                    "config": {},
                    "state": "connected",
                    "event_types": [EVENT_TYPE],
                    "schedule_interval_seconds": int(step.total_seconds()),
                    "created_at": created,
                    "updated_at": created,
                }
                for i, cid in enumerate(ids)
            ],
        )
    reports: list[runs_service.Report] = []
    pending: list[dict[str, Any]] = []
    for i, cid in enumerate(ids):
        for k in range(runs_per_day):
            started = now - timedelta(days=1) + k * step + timedelta(minutes=1)
            run_id = f"run_{k:04d}"
            pending.append(_pending(org_id, cid, run_id, started))
            failing = (i * 7 + k) % 50 == 0
            body = report_body(started + timedelta(minutes=2), failing)
            reports.append(runs_service.Report(len(reports), org_id, cid, run_id, body))
    for start in range(0, len(pending), BATCH):
        async with db.session(write=True) as session:
            await session.execute(insert(Run), pending[start : start + BATCH])
            await runs_service.report_all(session, reports[start : start + BATCH], now)
    return org_id, reader, ids


def _pending(org_id: int, cid: str, run_id: str, started: datetime) -> dict[str, Any]:
    return {
        "connection_id": cid,
        "id": run_id,
        "organisation_id": org_id,
        "started_at": started,
        "outcome": "pending",
        "events_delivered": 0,
        "batches_dlq": 0,
        "created_at": started,
    }


async def time_reports(
    db: Database, org_id: int, ids: Sequence[str], count: int, now: datetime
) -> list[float]:
    """One pending run per connection, each completed by a single report (PATCH's path)."""
    ids = [ids[i % len(ids)] for i in range(count)]
    started = now - timedelta(minutes=3)
    async with db.session(write=True) as session:
        await session.execute(
            insert(Run), [_pending(org_id, cid, f"timed_{i:05d}", started) for i, cid in enumerate(ids)]
        )
    out = []
    for i, cid in enumerate(ids):
        one = runs_service.Report(
            0, org_id, cid, f"timed_{i:05d}", report_body(now - timedelta(seconds=5), False)
        )
        began = time.perf_counter()
        async with db.session(statements=True) as session:
            await runs_service.report(session, one, now)
        out.append(time.perf_counter() - began)
    return out


async def time_telemetry(app: Any, org_id: int, reader: str, ids: Sequence[str], count: int) -> list[float]:
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {reader}"}
    base = f"/api/v1/organisations/{org_id}/integrations/warehouse-connections/"
    out = []
    async with httpx.AsyncClient(transport=transport, base_url="http://inprocess.test") as client:
        for i in range(count):
            began = time.perf_counter()
            answer = await client.get(f"{base}{ids[i % len(ids)]}/telemetry/", headers=headers)
            out.append(time.perf_counter() - began)
            if answer.status_code != 200:
                raise SystemExit(f"telemetry answered {answer.status_code}: {answer.text[:300]}")
    return out


async def time_passes(db: Database, settings: Settings, now: datetime, passes: int) -> list[float]:
    # First evaluations are dated a few hundred per pass; let them settle untimed.
    limit = evaluation.MAX_STATUS_CHANGES
    evaluation.MAX_STATUS_CHANGES = 1_000_000
    try:
        while (await evaluation.evaluate(db, now, settings.thresholds, steps=EVALUATION_STEPS)).deferred:
            pass
    finally:
        evaluation.MAX_STATUS_CHANGES = limit
    out = []
    for i in range(passes):
        began = time.perf_counter()
        await evaluation.evaluate(
            db, now + timedelta(seconds=30 * (i + 1)), settings.thresholds, steps=EVALUATION_STEPS
        )
        out.append(time.perf_counter() - began)
    return out


def summary(name: str, seconds: Sequence[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"{name:<11} n={len(ms):<5} median {statistics.median(ms):9.2f} ms   p90 {p90:9.2f} ms"


async def main(args: argparse.Namespace) -> None:
    found = await seeded(args.url, args.connections, args.runs_per_day)
    now = datetime.fromisoformat(found["now"])
    org_id, reader, ids = found["org_id"], found["reader"], found["ids"]
    data_dir = Path(tempfile.mkdtemp(prefix="pipepulse_inprocess_"))
    settings = Settings(
        database_url=args.url,
        data_dir=data_dir,
        secret_key="inprocess-bench-secret-key-of-32-characters",
        dispatcher="none",
    )
    db = Database(create_engine(settings.resolved_database_url))
    load = os.getloadavg()[0]
    try:
        print(
            f"{db.dialect}: {len(ids)} connections x {args.runs_per_day} runs; now {now:%Y-%m-%d %H:%M} UTC"
        )
        passes = await time_passes(db, settings, now, args.passes)
        app = create_app(settings, clock=lambda: now, database=db)
        reads = await time_telemetry(app, org_id, reader, ids, args.reads)
        reports = await time_reports(db, org_id, ids, args.reports, now)
        print(summary("report", reports))
        print(summary("telemetry", reads))
        print(summary("evaluation", passes))
        print(f"load average: {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    finally:
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="sqlite:///PATH or postgresql://USER@HOST:PORT/NAME")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--runs-per-day", type=int, default=24)
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
