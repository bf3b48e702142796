"""Recomputing the rollups from the raw runs (``pipepulse rollups rebuild``).

The reduction is a pure function of the completed runs and agrees with
:func:`pipepulse.telemetry.rollups.add_completed_run` row for row, so a rebuild after
normal operation changes nothing; it repairs rollups after a restore or a manual edit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import EventHourlyRollup, Run, RunDailyRollup, RunHourlyRollup, WarehouseConnection
from pipepulse.telemetry.rollups import RUN_COUNTS, floor_day, floor_hour, run_latency_ms
from pipepulse.telemetry.rules import typed_events

INSERT_CHUNK = 1000


@dataclass(frozen=True)
class CompletedRun:
    organisation_id: int
    connection_id: str
    started_at: datetime
    completed_at: datetime
    outcome: str
    events_delivered: int
    events_by_type: dict[str, int] | None
    batches_dlq: int
    latency_ms: int | None
    bytes_delivered: int | None
    events_pending: int | None


def reduce_runs(
    runs: Iterable[CompletedRun],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(hourly rows, event rows, daily rows) for the given completed runs."""
    hours: dict[tuple[str, datetime], dict[str, Any]] = {}
    events: dict[tuple[str, datetime, str], dict[str, Any]] = {}
    days: dict[tuple[str, datetime], dict[str, Any]] = {}
    for run in runs:
        hour = floor_hour(run.completed_at)
        latency = run_latency_ms(run.latency_ms, run.started_at, run.completed_at)
        h = hours.setdefault(
            (run.connection_id, hour),
            {
                "connection_id": run.connection_id,
                "hour": hour,
                "organisation_id": run.organisation_id,
                "runs": 0,
                "succeeded": 0,
                "partial": 0,
                "failed": 0,
                "events_delivered": 0,
                "batches_dlq": 0,
                "bytes_delivered": 0,
                "latency_sum_ms": 0,
                "latency_count": 0,
                "latency_max_ms": 0,
                "last_delivery_at": None,
                "events_pending_at": None,
                "events_pending": None,
            },
        )
        h["runs"] += 1
        if run.outcome in ("succeeded", "partial", "failed"):
            h[run.outcome] += 1
        h["events_delivered"] += run.events_delivered
        h["batches_dlq"] += run.batches_dlq
        h["bytes_delivered"] += run.bytes_delivered or 0
        h["latency_sum_ms"] += latency
        h["latency_count"] += 1
        h["latency_max_ms"] = max(h["latency_max_ms"], latency)
        if run.events_delivered > 0 and (
            h["last_delivery_at"] is None or run.completed_at > h["last_delivery_at"]
        ):
            h["last_delivery_at"] = run.completed_at
        if run.events_pending is not None and (
            h["events_pending_at"] is None
            or (run.completed_at, run.events_pending) > (h["events_pending_at"], h["events_pending"])
        ):
            h["events_pending_at"], h["events_pending"] = run.completed_at, run.events_pending
        for event_type, count in typed_events(run.events_delivered, run.events_by_type).items():
            e = events.setdefault(
                (run.connection_id, hour, event_type),
                {
                    "connection_id": run.connection_id,
                    "hour": hour,
                    "event_type": event_type,
                    "organisation_id": run.organisation_id,
                    "events": 0,
                },
            )
            e["events"] += count
        day = floor_day(run.completed_at)
        d = days.setdefault(
            (run.connection_id, day),
            {"connection_id": run.connection_id, "day": day, "organisation_id": run.organisation_id}
            | dict.fromkeys(RUN_COUNTS, 0),
        )
        d["runs"] += 1
        d["events_delivered"] += run.events_delivered
        d["batches_dlq"] += run.batches_dlq
        if run.outcome in ("succeeded", "partial", "failed"):
            d[run.outcome] += 1
    return list(hours.values()), list(events.values()), list(days.values())


@dataclass(frozen=True)
class RebuildCounts:
    connections: int
    runs: int
    hourly_rows: int
    daily_rows: int


async def rebuild(session: AsyncSession, connection_id: str | None = None) -> RebuildCounts:
    """Replace the rollups of one connection (or all) with ones recomputed from raw runs."""
    query = select(WarehouseConnection.id)
    if connection_id is not None:
        query = query.where(WarehouseConnection.id == connection_id)
    ids = list((await session.scalars(query.order_by(WarehouseConnection.id))).all())
    totals = [0, 0, 0]
    for cid in ids:
        for table in (RunHourlyRollup, EventHourlyRollup, RunDailyRollup):
            await session.execute(delete(table).where(table.connection_id == cid))
        rows = await session.execute(
            select(
                Run.organisation_id,
                Run.connection_id,
                Run.started_at,
                Run.completed_at,
                Run.outcome,
                Run.events_delivered,
                Run.events_by_type,
                Run.batches_dlq,
                Run.latency_ms,
                Run.bytes_delivered,
                Run.events_pending,
            ).where(Run.connection_id == cid, Run.completed_at.is_not(None))
        )
        runs = [CompletedRun(*row) for row in rows]
        hourly, event_rows, daily = reduce_runs(runs)
        for table, values in (
            (RunHourlyRollup, hourly),
            (EventHourlyRollup, event_rows),
            (RunDailyRollup, daily),
        ):
            for i in range(0, len(values), INSERT_CHUNK):
                await session.execute(insert(table), values[i : i + INSERT_CHUNK])
        totals[0] += len(runs)
        totals[1] += len(hourly)
        totals[2] += len(daily)
    await session.flush()
    return RebuildCounts(connections=len(ids), runs=totals[0], hourly_rows=totals[1], daily_rows=totals[2])
