"""Keeping the hourly rollups in step with run completions (same transaction)."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import EventHourlyRollup, RunDailyRollup, RunHourlyRollup
from pipepulse.telemetry.rules import typed_events

HOUR = timedelta(hours=1)


def floor_hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def floor_day(value: datetime) -> datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def run_latency_ms(latency_ms: int | None, started_at: datetime, completed_at: datetime) -> int:
    """SPEC §4.3: the reported latency, else the run's duration."""
    if latency_ms is not None:
        return latency_ms
    return max(0, int((completed_at - started_at).total_seconds() * 1000))


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _insert(dialect: str, table: Any) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


# The run counters kept per hour and per day (and summed by every reader of the rollups).
RUN_COUNTS = ("runs", "succeeded", "partial", "failed", "events_delivered", "batches_dlq")
HOURLY_ADDITIVE = (
    "runs",
    "succeeded",
    "partial",
    "failed",
    "events_delivered",
    "batches_dlq",
    "bytes_delivered",
    "latency_sum_ms",
    "latency_count",
)


# The upserts are built once per dialect and executed with parameters: building SQLAlchemy
# expressions on every report cost more than the database work itself.
@functools.cache
def _hourly_upsert(dialect: str) -> Any:
    stmt = _insert(dialect, RunHourlyRollup)
    t = RunHourlyRollup.__table__.c
    updates: dict[str, Any] = {name: t[name] + stmt.excluded[name] for name in HOURLY_ADDITIVE}
    greatest = func.greatest if dialect == "postgresql" else func.max  # SQLite's 2-arg max() is scalar
    updates["latency_max_ms"] = greatest(t.latency_max_ms, stmt.excluded.latency_max_ms)
    updates.update(_gauge_updates(t, stmt.excluded))
    return stmt.on_conflict_do_update(index_elements=["connection_id", "hour"], set_=updates)


@functools.cache
def _event_upsert(dialect: str) -> Any:
    stmt = _insert(dialect, EventHourlyRollup)
    e = EventHourlyRollup.__table__.c
    return stmt.on_conflict_do_update(
        index_elements=["connection_id", "hour", "event_type"],
        set_={"events": e.events + stmt.excluded.events},
    )


@functools.cache
def _daily_upsert(dialect: str) -> Any:
    stmt = _insert(dialect, RunDailyRollup)
    t = RunDailyRollup.__table__.c
    return stmt.on_conflict_do_update(
        index_elements=["connection_id", "day"],
        set_={name: t[name] + stmt.excluded[name] for name in RUN_COUNTS},
    )


async def add_completed_run(
    session: AsyncSession,
    *,
    organisation_id: int,
    connection_id: str,
    started_at: datetime,
    completed_at: datetime,
    outcome: str,
    events_delivered: int,
    events_by_type: dict[str, int] | None,
    batches_dlq: int,
    latency_ms: int | None,
    bytes_delivered: int | None,
    events_pending: int | None = None,
) -> None:
    """Add one newly completed run to its hour and day. Call exactly once per completion."""
    dialect = _dialect(session)
    # Core execution on the session's connection: these upserts touch no ORM objects, and the
    # ORM layer around each statement cost more than the statement.
    connection = await session.connection()
    hour = floor_hour(completed_at)
    latency = run_latency_ms(latency_ms, started_at, completed_at)
    row = {
        "connection_id": connection_id,
        "hour": hour,
        "organisation_id": organisation_id,
        "runs": 1,
        "succeeded": int(outcome == "succeeded"),
        "partial": int(outcome == "partial"),
        "failed": int(outcome == "failed"),
        "events_delivered": events_delivered,
        "batches_dlq": batches_dlq,
        "bytes_delivered": bytes_delivered or 0,
        "latency_sum_ms": latency,
        "latency_count": 1,
        "latency_max_ms": latency,
        "last_delivery_at": completed_at if events_delivered > 0 else None,
        "events_pending_at": completed_at if events_pending is not None else None,
        "events_pending": events_pending,
    }
    await connection.execute(_hourly_upsert(dialect), row)

    daily = {name: row[name] for name in ("connection_id", "organisation_id", *RUN_COUNTS)}
    daily["day"] = floor_day(hour)
    await connection.execute(_daily_upsert(dialect), daily)

    typed = typed_events(events_delivered, events_by_type)
    if typed:
        await connection.execute(
            _event_upsert(dialect),
            [
                {
                    "connection_id": connection_id,
                    "hour": hour,
                    "event_type": event_type,
                    "organisation_id": organisation_id,
                    "events": count,
                }
                for event_type, count in sorted(typed.items())
            ],
        )


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
