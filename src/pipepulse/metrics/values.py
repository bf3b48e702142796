"""What each metric of the metrics API means, as pure functions of accumulated runs.

No I/O and no clock. :class:`MetricValues` is the one table of metrics: each field carries
its display name, unit and kind, and the metadata, the sort keys and the series are all
derived from it. An :class:`Accumulator` gathers the finished runs of one bucket (from hourly
rollups, raw runs and orphans alike); the functions here turn it into metric values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal, TypedDict, get_type_hints

from pipepulse.db.run_rows import RunRow
from pipepulse.rules import (
    TOTAL,
    Status,
    Tally,
    events_breakdown,
    run_latency_ms,
    success_rate,
)


@dataclass(frozen=True)
class Metric:
    """How a metric is presented: its display name, its unit, and whether it is one value
    (a scalar, sortable, one series) or an object of values by event type (a breakdown)."""

    title: str
    unit: str
    kind: Literal["scalar", "breakdown"] = "scalar"


class MetricValues(TypedDict):
    """Every metric's value over a range or at an instant; the field order is the answer's order."""

    status: Annotated[Status, Metric("Pipeline Status", "status")]
    latency: Annotated[float | int | None, Metric("Pipeline Latency", "milliseconds")]
    recordsLag: Annotated[int | None, Metric("Lag in Events", "count")]
    events_delivered: Annotated[int, Metric("Events Delivered", "count")]
    events_by_type: Annotated[dict[str, int], Metric("Events Delivered by Type", "count", "breakdown")]
    runs: Annotated[int, Metric("Finished Runs", "count")]
    failed_runs: Annotated[int, Metric("Failing Runs", "count")]
    batches_dlq: Annotated[int, Metric("Batches Moved to the Dead-Letter Queue", "count")]
    success_rate: Annotated[float | None, Metric("Success Rate", "percent")]
    last_delivery_at: Annotated[datetime | None, Metric("Last Delivery", "timestamp")]


def _metric_table() -> dict[str, Metric]:
    hints = get_type_hints(MetricValues, include_extras=True)
    return {name: hint.__metadata__[0] for name, hint in hints.items()}


METRICS: dict[str, Metric] = _metric_table()
METADATA: dict[str, dict[str, str]] = {name: {"name": m.title, "unit": m.unit} for name, m in METRICS.items()}
# The metrics a list can be sorted by and that make one series each (a breakdown is an object).
SCALAR_METRICS: tuple[str, ...] = tuple(name for name, m in METRICS.items() if m.kind == "scalar")


class Point(TypedDict):
    timestamp: datetime
    value: object


@dataclass
class Accumulator:
    """The finished runs of one bucket, reduced to what the metrics need."""

    tally: Tally = field(default_factory=Tally)
    latency_sum_ms: int = 0
    latency_count: int = 0
    last_delivery_at: datetime | None = None
    events_pending_at: datetime | None = None
    events_pending: int | None = None

    def add_pending_gauge(self, at: datetime | None, value: int | None) -> None:
        """Keep the latest reported events_pending; a tie keeps the larger value (order-free)."""
        if at is None or value is None:
            return
        current_at, current = self.events_pending_at, self.events_pending
        if current_at is None or current is None or (at, value) > (current_at, current):
            self.events_pending_at, self.events_pending = at, value

    def add_delivery(self, at: datetime | None) -> None:
        if at is not None and (self.last_delivery_at is None or at > self.last_delivery_at):
            self.last_delivery_at = at

    def add_events(self, events_by_type: Mapping[str, int]) -> None:
        """Events by type of rollup hours (runs already counted)."""
        self.tally.events_by_type.update({k: v for k, v in events_by_type.items() if v})

    def __iadd__(self, other: Accumulator) -> Accumulator:
        self.tally += other.tally
        self.latency_sum_ms += other.latency_sum_ms
        self.latency_count += other.latency_count
        self.add_delivery(other.last_delivery_at)
        self.add_pending_gauge(other.events_pending_at, other.events_pending)
        return self

    def add_run(self, run: RunRow) -> None:
        """A completed run."""
        assert run.completed_at is not None
        self.tally.add_run(run.outcome, run.events_delivered, run.events_by_type, run.batches_dlq)
        self.latency_sum_ms += run_latency_ms(run.latency_ms, run.started_at, run.completed_at)
        self.latency_count += 1
        if run.events_delivered > 0:
            self.add_delivery(run.completed_at)
        self.add_pending_gauge(
            run.completed_at if run.events_pending is not None else None, run.events_pending
        )

    def add_orphan(self) -> None:
        # An orphan has no latency, events or lag: it only counts as a failing run.
        self.tally.add_run("orphaned")


def mean_latency(latency_sum_ms: int, latency_count: int) -> float | None:
    if latency_count == 0:
        return None
    return round(latency_sum_ms / latency_count, 1)


def summary_values(acc: Accumulator, event_types: Sequence[str], status_value: Status) -> MetricValues:
    """One value per metric over a range (timesummary) or for the latest answer."""
    t = acc.tally
    return MetricValues(
        status=status_value,
        latency=mean_latency(acc.latency_sum_ms, acc.latency_count),
        recordsLag=acc.events_pending,
        events_delivered=t.events_delivered,
        events_by_type=events_breakdown(event_types, t.events_by_type, t.events_delivered),
        runs=t.runs,
        failed_runs=t.failing,
        batches_dlq=t.batches_dlq,
        success_rate=success_rate(t.succeeded, t.runs),
        last_delivery_at=acc.last_delivery_at,
    )


Series = dict[str, list[Point] | dict[str, list[Point]]]


def series_values(
    labels: Sequence[datetime],
    accs: Sequence[Accumulator],
    statuses: Sequence[Status],
    event_types: Sequence[str],
) -> Series:
    """Each scalar metric as ``[{"timestamp", "value"}]``; a breakdown as type → such a list."""
    per_bucket = [summary_values(a, event_types, s) for a, s in zip(accs, statuses, strict=True)]
    out: Series = {}
    # Points are dict displays, not Point(...) calls: a long series makes thousands of them.
    for name, metric in METRICS.items():
        values = [v[name] for v in per_bucket]  # type: ignore[literal-required]
        if metric.kind == "scalar":
            out[name] = [{"timestamp": t, "value": v} for t, v in zip(labels, values, strict=True)]
            continue
        # Every type that appears in any bucket, so each list has one point per bucket.
        keys: dict[str, None] = {}
        for breakdown in values:
            keys.update((key, None) for key in breakdown if key != TOTAL)
        out[name] = {
            key: [
                {"timestamp": t, "value": int(breakdown.get(key, 0))}
                for t, breakdown in zip(labels, values, strict=True)
            ]
            for key in keys
        }
    return out
