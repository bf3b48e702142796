"""Alerting series read from the database, so every replica's work is counted once:
notifications by type and state, each connection's lateness as last evaluated, and the
newest scheduler heartbeat (for "no scheduler is running" alerts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import tallies
from pipepulse.db.models import ConnectionEvaluation, Notification, SchedulerHeartbeat, WarehouseConnection


class _Rows(Collector):
    def __init__(self, counts: Sequence[Any], late: Sequence[Any], last_tick: float | None) -> None:
        self.counts, self.late, self.last_tick = counts, late, last_tick

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
        if self.last_tick is not None:
            tick = GaugeMetricFamily(
                "pipepulse_scheduler_last_tick_timestamp_seconds",
                "When the most recent scheduler tick (any replica) finished.",
            )
            tick.add_metric([], self.last_tick)
            yield tick


async def exposition(session: AsyncSession) -> bytes:
    n, e, c = Notification, ConnectionEvaluation, WarehouseConnection
    # The rows there are, plus those deleted since (retention, a deleted channel or connection):
    # a counter must never go down.
    totals = Counter(await tallies.deleted(session))
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
    registry = CollectorRegistry()
    stamp = last_tick.timestamp() if last_tick is not None else None
    registry.register(_Rows(counts, late, stamp))
    return generate_latest(registry)
