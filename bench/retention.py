"""Measure retention on PostgreSQL: bytes per connection-day of each table, the cost of the
scheduler's per-tick check when nothing is due, and the time of one 10,000-row batch.

    python -m bench.retention [--connections 1000] [--busy 10] [--days 60]

Creates (and drops) a database of its own on PIPEPULSE_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres). ``--busy`` connections get ``--days`` days of
runs every 5 minutes (the SPEC §6 cadence) with their rollups; the rest have none.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from pipepulse.db import migrate
from pipepulse.db.engine import create_engine
from pipepulse.db.models import (
    EventHourlyRollup,
    Organisation,
    Run,
    RunDailyRollup,
    RunHourlyRollup,
    WarehouseConnection,
)
from pipepulse.db.run_rows import RunRow
from pipepulse.db.session import Database
from pipepulse.retention import service as retention
from pipepulse.rollups.rebuild import reduce_runs
from pipepulse.rules import Thresholds

START = datetime(2026, 1, 1, tzinfo=UTC)
CADENCE = timedelta(minutes=5)
TABLES = ("runs", "run_hourly_rollups", "event_hourly_rollups", "run_daily_rollups")


def run_rows(cid: str, org: int, days: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(days * 24 * 12):
        started = START + i * CADENCE
        completed = started + timedelta(seconds=40)
        events = 100 + i % 50
        by_type = {"evaluations": events - 10, "custom_events": 10}
        rows.append(
            {
                "connection_id": cid, "id": f"run_{i:012x}{cid[-10:]}", "organisation_id": org,
                "started_at": started, "completed_at": completed, "outcome": "succeeded",
                "events_delivered": events, "events_by_type": by_type,
                "batches_dlq": 0, "error": None, "latency_ms": 40_000, "events_pending": i % 7,
                "bytes_delivered": events * 300, "created_at": started, "orphaned_at": None,
            }
        )  # fmt: skip
    return rows


async def main(connections: int, busy: int, days: int) -> None:
    admin_url = os.environ.get(
        "PIPEPULSE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    admin = make_url(admin_url)
    name = f"pipepulse_bench_retention_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(host=admin.host, port=admin.port or 5432, user=admin.username)
    await conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(
        create_engine(admin.set(database=name, drivername="postgresql+asyncpg").render_as_string(False))
    )
    try:
        await migrate.upgrade(db.engine)
        async with db.session(write=True) as session:
            org = Organisation(slug="bench", name="Bench", created_at=START)
            session.add(org)
            await session.flush()
            org_id = org.id
            ids = [f"wc_{i:016x}" for i in range(connections)]
            await session.execute(
                insert(WarehouseConnection),
                [
                    {
                        "id": cid, "organisation_id": org_id, "name": cid, "type": "duckdb",
                        "integration_type": "warehouse_delivery", "config": {}, "state": "paused",
                        "event_types": [], "schedule_interval_seconds": 300, "created_at": START,
                        "updated_at": START, "next_run_epoch": None,
                    }
                    for cid in ids
                ],
            )  # fmt: skip
        for cid in ids[:busy]:
            rows = run_rows(cid, org_id, days)
            hourly, events, daily = reduce_runs(
                RunRow(**{k: r[k] for k in RunRow.__dataclass_fields__}) for r in rows
            )
            async with db.session(write=True) as session:
                for table, values in ((Run, rows), (RunHourlyRollup, hourly), (EventHourlyRollup, events),
                                      (RunDailyRollup, daily)):  # fmt: skip
                    for i in range(0, len(values), 5000):
                        await session.execute(insert(table), values[i : i + 5000])
        async with db.session() as session:
            await session.execute(text("ANALYZE"))
        async with db.engine.connect() as c:
            await c.execute(text("COMMIT"))
            await c.execute(text("VACUUM ANALYZE"))
        print(f"{connections} connections, {busy} with {days} days of runs every 5 minutes")
        async with db.session() as session:
            for table in TABLES:
                size = await session.scalar(text(f"SELECT pg_total_relation_size('{table}')"))
                rows_n = await session.scalar(text(f"SELECT count(*) FROM {table}"))
                print(
                    f"  {table:22} {rows_n:>9} rows  {size / rows_n:7.0f} B/row (with indexes)  "
                    f"{size / (busy * days) / 1024:8.1f} KiB per connection-day"
                )

        thresholds = Thresholds()
        nothing_due = START + timedelta(days=89)
        timings = []
        for _ in range(20):
            async with db.session() as session:
                t0 = time.perf_counter()
                due = await retention.connections_due(session, nothing_due, thresholds)
                timings.append(time.perf_counter() - t0)
        assert due == []
        print(f"  per-tick check, nothing due: median {statistics.median(timings) * 1000:.1f} ms")

        now = START + timedelta(days=90 + days - 10)  # all but the last 10 days of runs expired
        batch_times = []
        for cid in ids[:busy]:
            while True:
                async with db.session(write=True) as session:
                    t0 = time.perf_counter()
                    deleted = await retention.delete_batch(session, cid, now, thresholds)
                batch_times.append((deleted.runs, time.perf_counter() - t0))
                if deleted.runs < retention.BATCH_ROWS:
                    break
        full = [t for n, t in batch_times if n == retention.BATCH_ROWS]
        print(
            f"  batches: {len(batch_times)}; a full 10,000-row batch (delete + commit): "
            f"median {statistics.median(full) * 1000:.0f} ms, max {max(full) * 1000:.0f} ms"
        )
        t0 = time.perf_counter()
        rest = await retention.apply(db, thresholds, now)
        print(f"  a tick after that: {rest.total} rows, {(time.perf_counter() - t0) * 1000:.1f} ms")
        async with db.session() as session:
            plan = await session.execute(
                text(
                    "EXPLAIN DELETE FROM runs WHERE connection_id = :c AND completed_at < :t AND id IN "
                    "(SELECT id FROM runs WHERE connection_id = :c AND completed_at < :t "
                    "ORDER BY completed_at LIMIT 10000)"
                ),
                {"c": ids[0], "t": now - timedelta(days=90)},
            )
            print("  plan of a batch:\n    " + "\n    ".join(row[0] for row in plan))
    finally:
        await db.dispose()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--busy", type=int, default=10)
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(main(args.connections, args.busy, args.days))
