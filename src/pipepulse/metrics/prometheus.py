"""Pipeline health as Prometheus gauges: one series per connection, for alerting.

Computed on scrape through the same bulk ``latest`` service as ``GET /telemetry/metrics/``
(stored answers where they hold, see pipepulse.metrics.stored),
so a Prometheus alert and the API never disagree, and cached briefly so several scrapers
cost one computation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any  # noqa: F401

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.connections import repository as connections_repository
from pipepulse.connections.repository import ConnectionRef
from pipepulse.db.session import Database
from pipepulse.metrics import service as metrics
from pipepulse.metrics import stored
from pipepulse.metrics.values import MetricValues
from pipepulse.rules import STATUSES, Thresholds

CHUNK = 500
LABELS = ["organisation_id", "connection_id", "connection"]


class _Snapshot(Collector):
    def __init__(self, rows: Sequence[tuple[ConnectionRef, MetricValues]]) -> None:
        self.rows = rows

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = GaugeMetricFamily(
            "pipepulse_connection_status",
            "SPEC §3 status of each connection: 1 for the current status, 0 for the others.",
            labels=[*LABELS, "status"],
        )
        events = GaugeMetricFamily(
            "pipepulse_connection_events_delivered_24h",
            "Events delivered in the last 24 hours.",
            labels=LABELS,
        )
        failed = GaugeMetricFamily(
            "pipepulse_connection_failed_runs_24h",
            "Partial, failed and orphaned runs in the last 24 hours.",
            labels=LABELS,
        )
        dlq = GaugeMetricFamily(
            "pipepulse_connection_dlq_batches_24h",
            "Batches moved to the dead-letter queue, last 24 hours.",
            labels=LABELS,
        )
        last = GaugeMetricFamily(
            "pipepulse_connection_last_delivery_timestamp_seconds",
            "When the connection last delivered events (absent if never).",
            labels=LABELS,
        )
        lag = GaugeMetricFamily(
            "pipepulse_connection_records_lag", "Events pending, as the latest run reported.", labels=LABELS
        )
        for ref, data in self.rows:
            labels = [str(ref.organisation_id), ref.id, ref.name]
            for name in STATUSES:
                status.add_metric([*labels, name], 1.0 if data["status"] == name else 0.0)
            events.add_metric(labels, float(data["events_delivered"] or 0))
            failed.add_metric(labels, float(data["failed_runs"] or 0))
            dlq.add_metric(labels, float(data["batches_dlq"] or 0))
            delivered = data["last_delivery_at"]
            if delivered is not None:
                last.add_metric(labels, delivered.timestamp())
            if data["recordsLag"] is not None:
                lag.add_metric(labels, float(data["recordsLag"]))
        yield from (status, events, failed, dlq, last, lag)


async def connection_health(
    session: AsyncSession, database: Database, now: datetime, thresholds: Thresholds
) -> bytes:
    """The exposition text of every connection's health gauges at ``now``, from the stored
    answers where they hold (the session's transaction ends where some are stored)."""
    refs = await connections_repository.refs(session, organisation_id=None)
    query, _ = metrics.resolve(
        time_type="latest", time_interval=1, time_unit="hour", timestamp_from=None, timestamp_to=None, now=now
    )
    rows: list[tuple[ConnectionRef, MetricValues]] = []
    for start in range(0, len(refs), CHUNK):
        chunk = refs[start : start + CHUNK]
        values = await stored.latest_values(session, database, chunk, query, now, thresholds)
        rows.extend((ref, values[ref.id]) for ref in chunk)
    registry = CollectorRegistry()
    registry.register(_Snapshot(rows))
    return generate_latest(registry)
