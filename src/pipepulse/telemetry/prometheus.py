"""Pipeline health as Prometheus gauges: one series per connection, for alerting.

Computed on scrape through the same bulk ``latest`` service as ``GET /telemetry/metrics/``,
so a Prometheus alert and the API never disagree, and cached briefly so several scrapers
cost one computation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.telemetry import metrics
from pipepulse.telemetry import metrics_repository as repo
from pipepulse.telemetry.metrics import ConnectionRef
from pipepulse.telemetry.rules import Thresholds

STATUSES = ("active", "degraded", "error", "idle")
CHUNK = 500
LABELS = ["organisation_id", "connection_id", "connection"]


class _Snapshot(Collector):
    def __init__(self, rows: Sequence[tuple[ConnectionRef, dict[str, Any]]]) -> None:
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
            delivered = data.get("last_delivery_at")
            if isinstance(delivered, datetime):
                last.add_metric(labels, delivered.timestamp())
            if data.get("recordsLag") is not None:
                lag.add_metric(labels, float(data["recordsLag"]))
        yield from (status, events, failed, dlq, last, lag)


async def connection_health(session: AsyncSession, now: datetime, thresholds: Thresholds) -> bytes:
    """The exposition text of every connection's health gauges at ``now``."""
    refs = [
        ConnectionRef(id=cid, organisation_id=org, name=name, event_types=types)
        for cid, org, name, types in await repo.connection_refs(
            session, organisation_id=None, ids=None, tenant_ids=None
        )
    ]
    query, _ = metrics.resolve(
        time_type="latest", time_interval=1, time_unit="hour", timestamp_from=None, timestamp_to=None, now=now
    )
    rows: list[tuple[ConnectionRef, dict[str, Any]]] = []
    for start in range(0, len(refs), CHUNK):
        chunk = refs[start : start + CHUNK]
        values = await metrics.latest_values(session, chunk, query, now, thresholds)
        rows.extend((ref, values[ref.id]) for ref in chunk)
    registry = CollectorRegistry()
    registry.register(_Snapshot(rows))
    return generate_latest(registry)
