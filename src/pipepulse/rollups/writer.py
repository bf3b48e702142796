"""Keeping the hourly and daily rollups in step with run completions (same transaction).

This is the rollup writer of SQLite, a few upserts per completed run; PostgreSQL completes
runs and rolls them up in one statement instead (rollups/set_based.py), to the same rows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import dialect
from pipepulse.db.models import ConnectionRunTimes, EventHourlyRollup, RunDailyRollup, RunHourlyRollup
from pipepulse.db.run_rows import RunRow
from pipepulse.rollups import settled
from pipepulse.rollups.plan import floor_day, floor_hour
from pipepulse.rules import run_latency_ms, typed_events

# Per connection, the latest completion of each kind (ConnectionRunTimes).
LATEST_TIMES = ("last_completed_at", "last_succeeded_at", "last_failing_at", "last_delivery_at")
# The run counters kept per hour and per day (and summed by every reader of the rollups).
# ``orphaned`` is only ever added by retention, for the orphans whose pending rows it deletes.
RUN_COUNTS = ("runs", "succeeded", "partial", "failed", "events_delivered", "batches_dlq", "orphaned")
HOURLY_ADDITIVE = (*RUN_COUNTS, "bytes_delivered", "latency_sum_ms", "latency_count")


# The upserts are built once per dialect and executed with parameters: building SQLAlchemy
# expressions on every report cost more than the database work itself.
@functools.cache
def _hourly_upsert(name: str) -> Any:
    stmt = dialect.insert(name, RunHourlyRollup)
    t = RunHourlyRollup.__table__.c
    updates: dict[str, Any] = {column: t[column] + stmt.excluded[column] for column in HOURLY_ADDITIVE}
    updates["latency_max_ms"] = dialect.greatest(name)(t.latency_max_ms, stmt.excluded.latency_max_ms)
    updates.update(_gauge_updates(t, stmt.excluded))
    return stmt.on_conflict_do_update(index_elements=["connection_id", "hour"], set_=updates)


@functools.cache
def _event_upsert(name: str) -> Any:
    stmt = dialect.insert(name, EventHourlyRollup)
    e = EventHourlyRollup.__table__.c
    return stmt.on_conflict_do_update(
        index_elements=["connection_id", "hour", "event_type"],
        set_={"events": e.events + stmt.excluded.events},
    )


@functools.cache
def _daily_upsert(name: str) -> Any:
    stmt = dialect.insert(name, RunDailyRollup)
    t = RunDailyRollup.__table__.c
    return stmt.on_conflict_do_update(
        index_elements=["connection_id", "day"],
        set_={column: t[column] + stmt.excluded[column] for column in RUN_COUNTS},
    )


@functools.cache
def _times_upsert(name: str) -> Any:
    stmt = dialect.insert(name, ConnectionRunTimes)
    t = ConnectionRunTimes.__table__.c
    later = dialect.greatest(name)
    # coalesce both ways: SQLite's two-argument max() is NULL when either side is.
    return stmt.on_conflict_do_update(
        index_elements=["connection_id"],
        set_={
            column: later(
                func.coalesce(t[column], stmt.excluded[column]),
                func.coalesce(stmt.excluded[column], t[column]),
            )
            for column in LATEST_TIMES
        },
    )


@dataclass(frozen=True)
class Contribution:
    """What one completed run adds to the rollups: its hour, its day and its events by type."""

    hourly: dict[str, Any]
    daily: dict[str, Any]
    events: list[dict[str, Any]]
    times: dict[str, Any]


def contribution(run: RunRow) -> Contribution:
    """One completed run's rows, as the upserts add them (and the rebuild sums them)."""
    assert run.completed_at is not None, "only completed runs are rolled up"
    hour = floor_hour(run.completed_at)
    latency = run_latency_ms(run.latency_ms, run.started_at, run.completed_at)
    hourly = {
        "connection_id": run.connection_id,
        "hour": hour,
        "organisation_id": run.organisation_id,
        "runs": 1,
        "succeeded": int(run.outcome == "succeeded"),
        "partial": int(run.outcome == "partial"),
        "failed": int(run.outcome == "failed"),
        "events_delivered": run.events_delivered,
        "batches_dlq": run.batches_dlq,
        "orphaned": 0,
        "bytes_delivered": run.bytes_delivered or 0,
        "latency_sum_ms": latency,
        "latency_count": 1,
        "latency_max_ms": latency,
        "last_delivery_at": run.completed_at if run.events_delivered > 0 else None,
        "events_pending_at": run.completed_at if run.events_pending is not None else None,
        "events_pending": run.events_pending,
    }
    daily = {column: hourly[column] for column in ("connection_id", "organisation_id", *RUN_COUNTS)}
    daily["day"] = floor_day(hour)
    events = [
        {
            "connection_id": run.connection_id,
            "hour": hour,
            "event_type": event_type,
            "organisation_id": run.organisation_id,
            "events": count,
        }
        for event_type, count in sorted(typed_events(run.events_delivered, run.events_by_type).items())
    ]
    times = {
        "connection_id": run.connection_id,
        "organisation_id": run.organisation_id,
        "last_completed_at": run.completed_at,
        "last_succeeded_at": run.completed_at if run.outcome == "succeeded" else None,
        "last_failing_at": run.completed_at if run.outcome in ("partial", "failed") else None,
        "last_delivery_at": hourly["last_delivery_at"],
    }
    return Contribution(hourly, daily, events, times)


async def add_completed_run(session: AsyncSession, run: RunRow) -> None:
    """Add one newly completed run to its hour and day. Call exactly once per completion."""
    name = dialect.name_of(session)
    rows = contribution(run)
    # Core execution on the session's connection: these upserts touch no ORM objects, and the
    # ORM layer around each statement cost more than the statement.
    connection = await session.connection()
    await connection.execute(_hourly_upsert(name), rows.hourly)
    await connection.execute(_daily_upsert(name), rows.daily)
    if rows.events:
        await connection.execute(_event_upsert(name), rows.events)
    await connection.execute(_times_upsert(name), rows.times)
    await settled.bump_if_late(session, run.organisation_id, rows.hourly["hour"])


def orphan_contributions(
    orphans: Iterable[tuple[str, int, datetime]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(hourly rows, daily rows) for orphans given as (connection_id, organisation_id, orphan time).

    An orphan counts as a run and as ``orphaned`` in the hour of its orphan time (started_at +
    the orphan window), exactly where readers counted its pending row; it has no latency,
    events or gauges.
    """
    hours: dict[tuple[str, datetime], dict[str, Any]] = {}
    days: dict[tuple[str, datetime], dict[str, Any]] = {}
    for connection_id, organisation_id, time in orphans:
        hour = floor_hour(time)
        for rows, key, unit in ((hours, hour, "hour"), (days, floor_day(hour), "day")):
            row = rows.get((connection_id, key))
            if row is None:
                row = rows[(connection_id, key)] = {
                    "connection_id": connection_id,
                    unit: key,
                    "organisation_id": organisation_id,
                    **dict.fromkeys(RUN_COUNTS, 0),
                }
                if unit == "hour":
                    row.update(
                        bytes_delivered=0,
                        latency_sum_ms=0,
                        latency_count=0,
                        latency_max_ms=0,
                        last_delivery_at=None,
                        events_pending_at=None,
                        events_pending=None,
                    )
            row["runs"] += 1
            row["orphaned"] += 1
    return list(hours.values()), list(days.values())


async def add_orphans(session: AsyncSession, orphans: Iterable[tuple[str, int, datetime]]) -> None:
    """Add orphans whose pending rows are being deleted, in the deleting transaction."""
    hourly, daily = orphan_contributions(orphans)
    if not hourly:
        return
    name = dialect.name_of(session)
    connection = await session.connection()
    await connection.execute(_hourly_upsert(name), hourly)
    await connection.execute(_daily_upsert(name), daily)
    await settled.bump(session, (row["organisation_id"] for row in hourly))


def _gauge_updates(t: Any, new: Any) -> dict[str, Any]:
    """Keep the latest delivery and the latest events_pending, whatever order runs complete in."""
    newer_pending = and_(
        new.events_pending_at.is_not(None),
        or_(
            t.events_pending_at.is_(None),
            new.events_pending_at > t.events_pending_at,
            and_(new.events_pending_at == t.events_pending_at, new.events_pending > t.events_pending),
        ),
    )
    newer_delivery = and_(
        new.last_delivery_at.is_not(None),
        or_(t.last_delivery_at.is_(None), new.last_delivery_at > t.last_delivery_at),
    )
    return {
        "last_delivery_at": case((newer_delivery, new.last_delivery_at), else_=t.last_delivery_at),
        "events_pending_at": case((newer_pending, new.events_pending_at), else_=t.events_pending_at),
        "events_pending": case((newer_pending, new.events_pending), else_=t.events_pending),
    }
