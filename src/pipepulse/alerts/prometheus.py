"""Alerting series read from the database, so every replica's work is counted once:
notifications by type and state, each connection's lateness as last evaluated, and the
newest scheduler heartbeat (for "no scheduler is running" alerts), and how long the oldest due
notification has waited (for "delivery has stalled" alerts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import dialect, notification_tallies
from pipepulse.db.models import ConnectionEvaluation, Notification, SchedulerHeartbeat, WarehouseConnection


class _Rows(Collector):
    def __init__(
        self, counts: Sequence[Any], late: Sequence[Any], last_tick: float | None, oldest_due: float
    ) -> None:
        self.counts, self.late, self.last_tick, self.oldest_due = counts, late, last_tick, oldest_due

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        notifications = CounterMetricFamily(
            "pipepulse_notifications",
            "Alert notifications by event type and delivery state (pending ones are still being tried).",
            labels=["type", "state"],
        )
        for type_, state, count in self.counts:
            notifications.add_metric([type_, state], float(count))
        late = GaugeMetricFamily(
            "pipepulse_connection_late",
            "1 when the connection was late (past its freshness SLA) at the last evaluation.",
            labels=["organisation_id", "connection_id", "connection"],
        )
        for organisation_id, connection_id, name, is_late in self.late:
            late.add_metric([str(organisation_id), connection_id, name], 1.0 if is_late else 0.0)
        yield notifications
        yield late
        oldest = GaugeMetricFamily(
            "pipepulse_notifications_oldest_due_seconds",
            "How long the notification that has waited longest past its attempt time has waited"
            " (0 when none is due): grows without bound when no scheduler delivers.",
        )
        oldest.add_metric([], self.oldest_due)
        yield oldest
        if self.last_tick is not None:
            tick = GaugeMetricFamily(
                "pipepulse_scheduler_last_tick_timestamp_seconds",
                "When the most recent scheduler tick (any replica) finished.",
            )
            tick.add_metric([], self.last_tick)
            yield tick


def oldest_due_seconds(earliest_due: datetime | None, now: datetime) -> float:
    """Seconds the longest-waiting due notification has waited; 0 when none is due."""
    if earliest_due is None:
        return 0.0
    return max(0.0, (now - earliest_due).total_seconds())


async def exposition(session: AsyncSession, now: datetime) -> bytes:
    n, e, c = Notification, ConnectionEvaluation, WarehouseConnection
    # The rows there are, plus those deleted since (retention, a deleted channel or connection):
    # a counter must never go down.
    totals = Counter(await notification_tallies.deleted(session))
    for type_, state, count in await session.execute(
        select(n.type, n.state, func.count()).group_by(n.type, n.state)
    ):
        totals[(type_, state)] += int(count)
    counts = [(type_, state, count) for (type_, state), count in sorted(totals.items())]
    late = (
        await session.execute(
            select(c.organisation_id, c.id, c.name, e.late)
            .join(e, e.connection_id == c.id)
            .where(c.state != "paused")
            .order_by(c.id)
        )
    ).all()
    last_tick = await session.scalar(select(func.max(SchedulerHeartbeat.last_tick_at)))
    # A claimed notification's next attempt lies a lease ahead: only the unclaimed count.
    earliest_due = await session.scalar(
        select(func.min(n.next_attempt_at)).where(n.state == "pending", n.next_attempt_at <= now)
    )
    registry = CollectorRegistry()
    stamp = last_tick.timestamp() if last_tick is not None else None
    registry.register(_Rows(counts, late, stamp, oldest_due_seconds(dialect.as_utc(earliest_due), now)))
    return generate_latest(registry)
