"""Load SPEC §6's benchmark history: N connections x D days x one run every 5 minutes.

PostgreSQL (the default) is loaded with binary COPY, with the secondary indexes of ``runs``
dropped during the load and rebuilt afterwards; SQLite (``--sqlite PATH``) with executemany,
for a smaller history. Rollups are computed by the same pure reduction ``pipepulse rollups
rebuild`` uses, so the dataset is exactly what the live ingest path would have produced.

    python -m bench.generate --database pipepulse_bench            # 1,000 x 30 days ~ 8.6 M runs
    python -m bench.generate --sqlite /tmp/bench.db --connections 50 --days 7

It writes ``bench/state.json`` (tokens and ids) for the driver.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import insert

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.db import migrate
from pipepulse.db.engine import async_database_url, create_engine
from pipepulse.db.models import WarehouseConnection
from pipepulse.db.rows import RunRow
from pipepulse.db.session import Database
from pipepulse.organisations import service as organisations_service
from pipepulse.rollups.rebuild import reduce_runs

STATE = Path(__file__).with_name("state.json")
STEP = timedelta(minutes=5)
INTEGRATION_TYPES = ("warehouse_delivery", "metadata_sync", "quality_check", "profiling", "webhook", "alert")
RUN_COLUMNS = (
    "connection_id", "id", "organisation_id", "started_at", "completed_at", "outcome", "events_delivered",
    "events_by_type", "batches_dlq", "error", "latency_ms", "events_pending", "bytes_delivered", "created_at",
    "orphaned_at",
)  # fmt: skip
HOURLY_COLUMNS = (
    "connection_id", "hour", "organisation_id", "runs", "succeeded", "partial", "failed", "events_delivered",
    "batches_dlq", "bytes_delivered", "latency_sum_ms", "latency_count", "latency_max_ms", "last_delivery_at",
    "events_pending_at", "events_pending",
)  # fmt: skip
EVENT_COLUMNS = ("connection_id", "hour", "event_type", "organisation_id", "events")
DAILY_COLUMNS = (
    "connection_id", "day", "organisation_id", "runs", "succeeded", "partial", "failed", "events_delivered",
    "batches_dlq",
)  # fmt: skip


def history(
    connection_id: str, organisation_id: int, start: datetime, end: datetime, seed: int
) -> Iterator[tuple[Any, ...]]:
    """One run every 5 minutes: ~1% failed, ~1% partial, the newest still pending."""
    rng = random.Random(seed)
    t = start
    n = 0
    while t < end:
        n += 1
        run_id = f"r{n:07d}"
        if t + STEP >= end:
            pending = (t, None, "pending", 0, None, 0, None, None, None, None, t, None)
            yield (connection_id, run_id, organisation_id, *pending)
            break
        duration = timedelta(seconds=rng.randint(5, 120))
        roll = rng.random()
        events = rng.randint(0, 5000)
        evaluations = events // 3
        error = "warehouse rejected the batch: permission denied" if roll < 0.01 else None
        dlq = rng.randint(1, 4) if 0.01 <= roll < 0.02 else 0
        outcome = "failed" if error else ("partial" if dlq else "succeeded")
        by_type = json.dumps({"evaluations": evaluations, "custom_events": events - evaluations})
        yield (
            connection_id, run_id, organisation_id, t, t + duration, outcome, events, by_type, dlq, error,
            rng.randint(50, 3000), rng.randint(0, 200), events * 180, t, None,
        )  # fmt: skip
        t += STEP


def rollups(rows: list[tuple[Any, ...]]) -> tuple[list[dict[str, Any]], ...]:
    runs = []
    for r in rows:
        if r[4] is None:
            continue
        runs.append(
            RunRow(
                organisation_id=r[2],
                connection_id=r[0],
                id=r[1],
                error=r[9],
                started_at=r[3],
                completed_at=r[4],
                outcome=r[5],
                events_delivered=r[6],
                events_by_type=json.loads(r[7]) if r[7] else None,
                batches_dlq=r[8],
                latency_ms=r[10],
                bytes_delivered=r[12],
                events_pending=r[11],
            )
        )
    return reduce_runs(runs)


async def setup(url: str, connections: int, small_runs: int, now: datetime) -> dict[str, Any]:
    """Migrate, then create the organisations, connections, tokens and the service key."""
    db = Database(create_engine(async_database_url(url)))
    try:
        await migrate.upgrade(db.engine)
        async with db.session(write=True) as session:
            big = await organisations_service.create(session, slug="bench", name="Bench", now=now)
            small = await organisations_service.create(session, slug="bench-small", name="Small", now=now)
            reader = await auth_service.create_token(
                session, organisation_id=None, scopes=[scopes.READ_PIPELINE_METRICS], name="bench", now=now
            )
            key = await auth_service.create_service_key(session, name="bench", now=now)
            rows = [
                {
                    "id": f"wc_bench{i:05d}",
                    "organisation_id": big.id,
                    "name": f"Pipeline {i:05d}",
                    "type": "snowflake",
                    "integration_type": INTEGRATION_TYPES[i % len(INTEGRATION_TYPES)],
                    "config": {},
                    "state": "connected",
                    "event_types": ["evaluations", "custom_events"],
                    "schedule_interval_seconds": 300,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(connections)
            ]
            rows.append({**rows[0], "id": "wc_small", "organisation_id": small.id, "name": "Small pipeline"})
            await session.execute(insert(WarehouseConnection), rows)
        return {
            "organisation_id": big.id,
            "organisation_slug": big.slug,
            "small_organisation_id": small.id,
            "connection_ids": [r["id"] for r in rows[:-1]],
            "small_connection_id": "wc_small",
            "small_runs": small_runs,
            "reader": reader.token,
            "service_key": key.key,
        }
    finally:
        await db.dispose()


def progress() -> Progress:
    columns = (BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn())
    return Progress(TextColumn("{task.description}"), *columns)


async def load_postgres(dsn: str, state: dict[str, Any], start: datetime, end: datetime) -> int:
    conn = await asyncpg.connect(dsn)
    total = 0
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'runs' AND indexname <> 'pk_runs'"
        )
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        began = time.monotonic()
        with progress() as bar:
            task = bar.add_task("runs + rollups", total=len(state["connection_ids"]), rate="")
            batch: list[tuple[Any, ...]] = []
            hourly: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            daily: list[dict[str, Any]] = []
            for i, cid in enumerate(state["connection_ids"]):
                rows = list(history(cid, state["organisation_id"], start, end, seed=i))
                h, e, d = rollups(rows)
                batch += rows
                hourly += h
                events += e
                daily += d
                if len(batch) >= 200_000 or i == len(state["connection_ids"]) - 1:
                    await conn.copy_records_to_table("runs", records=batch, columns=RUN_COLUMNS)
                    await conn.copy_records_to_table(
                        "run_hourly_rollups", records=[tuple(r[c] for c in HOURLY_COLUMNS) for r in hourly],
                        columns=HOURLY_COLUMNS,
                    )  # fmt: skip
                    await conn.copy_records_to_table(
                        "event_hourly_rollups", records=[tuple(r[c] for c in EVENT_COLUMNS) for r in events],
                        columns=EVENT_COLUMNS,
                    )  # fmt: skip
                    await conn.copy_records_to_table(
                        "run_daily_rollups", records=[tuple(r[c] for c in DAILY_COLUMNS) for r in daily],
                        columns=DAILY_COLUMNS,
                    )  # fmt: skip
                    total += len(batch)
                    batch, hourly, events, daily = [], [], [], []
                bar.update(task, advance=1, rate=f"{total / max(time.monotonic() - began, 1e-9):,.0f} runs/s")
            # The small connection: a handful of runs, for the "within 1.5x" comparison.
            small = list(history(state["small_connection_id"], state["small_organisation_id"],
                                 end - STEP * state["small_runs"], end, seed=-1))  # fmt: skip
            h, e, d = rollups(small)
            await conn.copy_records_to_table("runs", records=small, columns=RUN_COLUMNS)
            for table, cols, values in (
                ("run_hourly_rollups", HOURLY_COLUMNS, h), ("event_hourly_rollups", EVENT_COLUMNS, e),
                ("run_daily_rollups", DAILY_COLUMNS, d),
            ):  # fmt: skip
                await conn.copy_records_to_table(
                    table, records=[tuple(r[c] for c in cols) for r in values], columns=cols
                )
            total += len(small)
            task = bar.add_task("rebuilding indexes", total=len(indexes), rate="")
            for row in indexes:
                await conn.execute(row["indexdef"])
                bar.update(task, advance=1)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return total


def load_sqlite(path: str, state: dict[str, Any], start: datetime, end: datetime) -> int:
    def naive(v: Any) -> Any:
        if not isinstance(v, datetime):
            return v
        return v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    db = sqlite3.connect(path)
    total = 0
    try:
        targets = [(cid, state["organisation_id"], start, i) for i, cid in enumerate(state["connection_ids"])]
        targets.append((state["small_connection_id"], state["small_organisation_id"],
                        end - STEP * state["small_runs"], -1))  # fmt: skip
        with progress() as bar:
            task = bar.add_task("runs + rollups", total=len(targets), rate="")
            for cid, org, since, seed in targets:
                rows = list(history(cid, org, since, end, seed=seed))
                h, e, d = rollups(rows)
                db.executemany(
                    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",  # noqa: E501
                    [tuple(naive(v) for v in r) for r in rows],
                )
                for table, cols, values in (
                    ("run_hourly_rollups", HOURLY_COLUMNS, h), ("event_hourly_rollups", EVENT_COLUMNS, e),
                    ("run_daily_rollups", DAILY_COLUMNS, d),
                ):  # fmt: skip
                    db.executemany(
                        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [tuple(naive(r[c]) for c in cols) for r in values],
                    )
                total += len(rows)
                bar.update(task, advance=1)
        db.commit()
    finally:
        db.close()
    return total


async def recreate_postgres(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1:5432", help="PostgreSQL host:port (user postgres).")
    parser.add_argument("--database", default="pipepulse_bench", help="Dropped and recreated.")
    parser.add_argument("--sqlite", default=None, help="Load a SQLite file instead (recreated).")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--small-runs", type=int, default=10, help="Runs of the comparison connection.")
    args = parser.parse_args()

    now = datetime.now(UTC)
    end = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
    start = end - timedelta(days=args.days)
    began = time.monotonic()
    if args.sqlite:
        Path(args.sqlite).unlink(missing_ok=True)
        url = f"sqlite:///{args.sqlite}"
        state = asyncio.run(setup(url, args.connections, args.small_runs, now))
        total = load_sqlite(args.sqlite, state, start, end)
    else:
        admin = f"postgresql://postgres@{args.host}/postgres"
        url = f"postgresql://postgres@{args.host}/{args.database}"
        asyncio.run(recreate_postgres(admin, args.database))
        state = asyncio.run(setup(url, args.connections, args.small_runs, now))
        total = asyncio.run(load_postgres(url, state, start, end))
    state.update(database_url=url, generated_at=now.isoformat(), history_end=end.isoformat(), days=args.days)
    STATE.write_text(json.dumps(state, indent=1))
    print(f"loaded {total:,} runs into {url} in {time.monotonic() - began:,.0f} s; state in {STATE}")


if __name__ == "__main__":
    main()
