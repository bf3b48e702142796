"""The ingest organisation's runs, for the write benchmarks: seeding pending runs and clearing
them away again. The harness (driver.py) and the same-work floor (same_work.py) both use it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


async def seed(dsn: str, state: dict[str, Any], prefix: str, count: int, started: datetime) -> None:
    """``count`` pending runs of the ingest organisation: run i is ``prefix + i`` of connection i mod n."""
    id_prefix = state["ingest_connection_id_format"].removesuffix("%05d")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO runs (connection_id, id, organisation_id, started_at, outcome, events_delivered,
                              batches_dlq, created_at)
            SELECT $1 || lpad((i % $2)::text, 5, '0'), $3 || i, $4, $5, 'pending', 0, 0, $5
            FROM generate_series(0, $6 - 1) AS i
            """,
            id_prefix,
            state["ingest_connections"],
            prefix,
            state["ingest_organisation_id"],
            started,
            count,
        )
    finally:
        await conn.close()


async def clear_ingest(dsn: str, state: dict[str, Any]) -> None:
    conn = await asyncpg.connect(dsn)
    org = state["ingest_organisation_id"]
    try:
        for table in (
            "runs",
            "run_hourly_rollups",
            "event_hourly_rollups",
            "run_daily_rollups",
            "connection_run_times",
        ):
            await conn.execute(f"DELETE FROM {table} WHERE organisation_id = $1", org)
        await conn.execute(
            "VACUUM ANALYZE runs, run_hourly_rollups, event_hourly_rollups, run_daily_rollups, "
            "connection_run_times"
        )
    finally:
        await conn.close()
