"""Keeping the hourly rollups in step with run completions (same transaction)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import EventHourlyRollup, RunHourlyRollup
from pipepulse.telemetry.rules import typed_events

HOUR = timedelta(hours=1)


def floor_hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def run_latency_ms(latency_ms: int | None, started_at: datetime, completed_at: datetime) -> int:
    """SPEC §4.3: the reported latency, else the run's duration."""
    if latency_ms is not None:
        return latency_ms
    return max(0, int((completed_at - started_at).total_seconds() * 1000))


def _insert(session: AsyncSession, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _greatest(session: AsyncSession, a: Any, b: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.greatest(a, b)
    return func.max(a, b)  # SQLite's two-argument max() is a scalar


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
) -> None:
    """Add one newly completed run to its hour. Call exactly once per completion."""
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
    }
    stmt = _insert(session, RunHourlyRollup).values(row)
    t = RunHourlyRollup.__table__.c
    additive = [
        "runs",
        "succeeded",
        "partial",
        "failed",
        "events_delivered",
        "batches_dlq",
        "bytes_delivered",
        "latency_sum_ms",
        "latency_count",
    ]
    updates: dict[str, Any] = {name: t[name] + stmt.excluded[name] for name in additive}
    updates["latency_max_ms"] = _greatest(session, t.latency_max_ms, stmt.excluded.latency_max_ms)
    await session.execute(stmt.on_conflict_do_update(index_elements=["connection_id", "hour"], set_=updates))

    typed = typed_events(events_delivered, events_by_type)
    if typed:
        ev = _insert(session, EventHourlyRollup).values(
            [
                {
                    "connection_id": connection_id,
                    "hour": hour,
                    "event_type": event_type,
                    "organisation_id": organisation_id,
                    "events": count,
                }
                for event_type, count in sorted(typed.items())
            ]
        )
        e = EventHourlyRollup.__table__.c
        await session.execute(
            ev.on_conflict_do_update(
                index_elements=["connection_id", "hour", "event_type"],
                set_={"events": e.events + ev.excluded.events},
            )
        )
