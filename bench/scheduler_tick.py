"""One scheduler tick seeding 10,000 due connections on PostgreSQL (SPEC §6: ≤ 2 s).

    .venv/bin/python bench/scheduler_tick.py [--connections 10000] [--repeat 5]
        [--admin-url postgresql://postgres@127.0.0.1:5432/test]

Creates a database of its own (dropped at the end), loads the connections, then times whole
ticks (claim + insert of the pending runs + orphan sweep + heartbeat) with the seed-only
dispatcher, since invoking loaders is the loaders' time, not the scheduler's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy.engine import make_url

from pipepulse.config import Settings
from pipepulse.db import migrate
from pipepulse.db.engine import create_engine
from pipepulse.db.session import Database
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher


async def main(connections: int, repeat: int, admin_url: str) -> None:
    admin = make_url(admin_url)
    name = f"pipepulse_bench_tick_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(
        host=admin.host, port=admin.port or 5432, user=admin.username, database=admin.database
    )
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = admin.set(database=name).render_as_string(hide_password=False)
    settings = Settings(database_url=url, dispatcher="none")
    db = Database(create_engine(settings.resolved_database_url))
    try:
        await migrate.upgrade(db.engine)
        now = datetime.now(UTC).replace(microsecond=0)
        raw = await asyncpg.connect(
            host=admin.host, port=admin.port or 5432, user=admin.username, database=name
        )
        await raw.execute(
            "INSERT INTO organisations (slug, name, created_at) VALUES ('bench', 'Bench', now())"
        )
        await raw.copy_records_to_table(
            "warehouse_connections",
            records=[
                (
                    f"wc_{i:08d}",
                    1,
                    f"c{i}",
                    "snowflake",
                    "warehouse_delivery",
                    "{}",
                    "connected",
                    '["evaluations", "custom_events"]',
                    300,
                    now,
                    now,
                )
                for i in range(connections)
            ],
            columns=[
                "id",
                "organisation_id",
                "name",
                "type",
                "integration_type",
                "config",
                "state",
                "event_types",
                "schedule_interval_seconds",
                "created_at",
                "updated_at",
            ],
        )
        await raw.execute("ANALYZE")
        timings = []
        for i in range(repeat):
            tick_at = now + timedelta(seconds=300 * i)
            started = time.perf_counter()
            result = await runner.tick(db, settings, NoDispatcher(), tick_at)
            timings.append(time.perf_counter() - started)
            assert result.seeded == connections, result
        runs = await raw.fetchval("SELECT count(*) FROM runs")
        await raw.close()
        print(f"connections due per tick: {connections}; ticks: {repeat}; runs written: {runs}")
        print(
            f"tick seconds: median {statistics.median(timings):.3f}, "
            f"min {min(timings):.3f}, max {max(timings):.3f} (target <= 2.0)"
        )
    finally:
        await db.dispose()
        conn = await asyncpg.connect(
            host=admin.host, port=admin.port or 5432, user=admin.username, database=admin.database
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    asyncio.run(main(args.connections, args.repeat, args.admin_url))
