"""CPU per read request, in process: each read route called through the app (httpx
ASGITransport, no server, no network) on a PostgreSQL database of its own.

    .venv/bin/python -m bench.read_cpu [--connections 100] [--days 3] [--requests 500]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres] [--only health] [--profile | --stages]

One run every 15 minutes per connection for ``--days`` days (2 % failing) and their hourly
rollups. The clock is frozen, so answers that are stored stay exact across the requests, as
they do between the runs of a real fleet. For each route: ``time.process_time()`` of this
process over ``--requests`` requests (after 5 unmeasured ones), i.e. the Python work of the
app and the driver per request, not the database's; wall time beside it. The machine may be
shared: CPU per request is the figure that does not depend on what else runs.

``--stages`` also prints the CPU of this process spent inside each step of the ``timeseries``
read (:data:`STAGES`), per request: without a profiler's cost per call, which inflates code
that makes many small calls several-fold and so misplaces it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import importlib
import pstats
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.evaluation_pass import CONNECTION_COLUMNS, CONNECTION_VALUES, ROLLUPS, RUN_COLUMNS
from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db import migrate
from pipepulse.db.engine import create_engine
from pipepulse.db.session import Database

# The steps of a timeseries read (module, function), each called through its module's attribute.
STAGES = (
    ("pipepulse.metrics.buckets", "buckets"),
    ("pipepulse.rollups.plan", "split"),
    ("pipepulse.metrics.repository", "event_hour_rows"),
    ("pipepulse.metrics.repository", "hour_rows"),
    ("pipepulse.metrics.repository", "bucket_sums"),
    ("pipepulse.metrics.service", "_orphans"),
    ("pipepulse.metrics.service", "_order_dependent_status"),
    ("pipepulse.metrics.service", "series_values"),
    ("pipepulse.metrics.router", "_json"),
)


def time_stages(spent: dict[str, float]) -> None:
    """Wrap each of :data:`STAGES` so that its CPU time (``time.process_time``) adds up in ``spent``."""
    for module_name, name in STAGES:
        module = importlib.import_module(module_name)
        label = f"{module_name.removeprefix('pipepulse.')}.{name}"
        setattr(module, name, _timed(getattr(module, name), label, spent))


def _timed(function: Any, label: str, spent: dict[str, float]) -> Any:
    if asyncio.iscoroutinefunction(function):

        async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return await function(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - started

        return functools.wraps(function)(timed_coroutine)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - started

    return functools.wraps(function)(timed)


def routes(cid: str, from3d: str, from7d: str) -> dict[str, str]:
    conn = f"/api/v1/organisations/1/integrations/warehouse-connections/{cid}"
    return {
        "bulk latest (size=500)": "/api/v1/telemetry/metrics/?size=500",
        "telemetry": f"{conn}/telemetry/",
        "timeseries (24 h, hourly)": f"{conn}/telemetry/metrics/?time_type=timeseries&time_unit=hour",
        "timeseries (3 d, 15 min)": (
            f"{conn}/telemetry/metrics/?time_type=timeseries&time_unit=minute&time_interval=15"
            f"&timestamp_from={from3d}"
        ),
        # The shape of the wrk row (bench/driver.py): 169 hourly buckets; data for --days only.
        "timeseries (7 d, hourly)": (
            f"{conn}/telemetry/metrics/?time_type=timeseries&time_unit=hour&timestamp_from={from7d}"
        ),
        "organisation health (7 d)": "/api/v1/organisations/1/integration-health/?days=7",
        "status-history (3 d)": f"{conn}/status-history/?from={from3d}",
    }


async def seed(raw: asyncpg.Connection, connections: int, days: int, now: datetime) -> int:
    await raw.execute("INSERT INTO organisations (slug, name, created_at) VALUES ('bench', 'Bench', now())")
    ids = [f"wc_{i:08d}" for i in range(connections)]
    created = now - timedelta(days=days + 1)
    await raw.copy_records_to_table(
        "warehouse_connections",
        records=[(cid, 1, f"c{i}", *CONNECTION_VALUES, created, created) for i, cid in enumerate(ids)],
        columns=CONNECTION_COLUMNS,
    )
    runs = []
    for i, cid in enumerate(ids):
        for q in range(days * 96, 0, -1):
            completed = now - timedelta(minutes=15 * q - 3)
            failed = (i * 31 + q) % 50 == 0
            outcome = (
                ("failed", 0, None, 0, "boom")
                if failed
                else ("succeeded", 500, '{"evaluations": 500}', 0, None)
            )
            runs.append((cid, f"r{q}", 1, completed - timedelta(minutes=2), completed, *outcome, completed))
    await raw.copy_records_to_table("runs", records=runs, columns=RUN_COLUMNS)
    await raw.execute(ROLLUPS)
    await raw.execute("VACUUM ANALYZE")
    return len(runs)


async def main(
    connections: int,
    days: int,
    requests: int,
    admin_url: str,
    only: str | None,
    profile: bool,
    stages: bool = False,
) -> None:
    admin = make_url(admin_url)
    name = f"pipepulse_bench_reads_{uuid.uuid4().hex[:8]}"
    server = {"host": admin.host, "port": admin.port or 5432, "user": admin.username}
    conn = await asyncpg.connect(**server, database=admin.database)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = admin.set(database=name).render_as_string(hide_password=False)
    settings = Settings(database_url=url, dispatcher="none")
    db = Database(create_engine(settings.resolved_database_url))
    try:
        await migrate.upgrade(db.engine)
        now = datetime.now(UTC).replace(minute=20, second=0, microsecond=0)
        raw = await asyncpg.connect(**server, database=name)
        count = await seed(raw, connections, days, now)
        await raw.close()
        async with db.session(write=True) as session:
            issued = await auth_service.create_token(
                session, organisation_id=1, scopes=[scopes.READ_PIPELINE_METRICS], name="r", now=now
            )
        print(f"connections: {connections}; runs: {count}; now: {now:%Y-%m-%d %H:%M} UTC")
        app = create_app(settings, clock=lambda: now, database=db)
        headers = {"Authorization": f"Bearer {issued.token}"}
        from3d = (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        from7d = (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        spent: dict[str, float] = defaultdict(float)
        if stages:
            time_stages(spent)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for label, path in routes("wc_00000007", from3d, from7d).items():
                if only is not None and only not in label:
                    continue
                for _ in range(5):
                    response = await client.get(path, headers=headers)
                    assert response.status_code == 200, (path, response.status_code, response.text[:300])
                spent.clear()
                profiler = cProfile.Profile(time.process_time) if profile else None
                wall, cpu = time.perf_counter(), time.process_time()
                if profiler is not None:
                    profiler.enable()
                for _ in range(requests):
                    await client.get(path, headers=headers)
                if profiler is not None:
                    profiler.disable()
                cpu = (time.process_time() - cpu) / requests * 1000
                wall = (time.perf_counter() - wall) / requests * 1000
                print(f"{label:28} CPU {cpu:7.2f} ms/request   wall {wall:7.2f} ms/request")
                for stage, seconds in sorted(spent.items(), key=lambda item: -item[1]):
                    print(f"    {stage:40} CPU {seconds / requests * 1000:7.2f} ms/request")
                if profiler is not None:
                    # pipepulse's own functions by their own time: where the per-request Python is.
                    stats = pstats.Stats(profiler).sort_stats("tottime")
                    stats.print_stats("pipepulse", 20)
                    stats.sort_stats("cumulative").print_stats(40)
    finally:
        await db.dispose()
        conn = await asyncpg.connect(**server, database=admin.database)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--only", default=None, help="Only the routes whose label contains this.")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile each route; print pipepulse's top 20 by own time."
    )
    parser.add_argument(
        "--stages", action="store_true", help="CPU per request in each step of the timeseries reads (STAGES)."
    )
    args = parser.parse_args()
    asyncio.run(
        main(args.connections, args.days, args.requests, args.admin_url, args.only, args.profile, args.stages)
    )
