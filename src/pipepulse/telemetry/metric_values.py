"""What each metric of the metrics API means, as pure functions of accumulated runs.

No I/O and no clock. An :class:`Accumulator` gathers the finished runs of one bucket (from
hourly rollups, raw runs and orphans alike); the functions here turn it into metric values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipepulse.telemetry.rollups import run_latency_ms
from pipepulse.telemetry.rules import TOTAL, Status, Tally, events_breakdown, is_failing, status

METADATA: dict[str, dict[str, str]] = {
    "status": {"name": "Pipeline Status", "unit": "status"},
    "latency": {"name": "Pipeline Latency", "unit": "milliseconds"},
    "recordsLag": {"name": "Lag in Events", "unit": "count"},
    "events_delivered": {"name": "Events Delivered", "unit": "count"},
    "events_by_type": {"name": "Events Delivered by Type", "unit": "count"},
    "runs": {"name": "Finished Runs", "unit": "count"},
    "failed_runs": {"name": "Failing Runs", "unit": "count"},
    "batches_dlq": {"name": "Batches Moved to the Dead-Letter Queue", "unit": "count"},
    "success_rate": {"name": "Success Rate", "unit": "percent"},
    "last_delivery_at": {"name": "Last Delivery", "unit": "timestamp"},
}
# The metrics a list can be sorted by (events_by_type is an object, not a scalar).
SCALAR_METRICS: tuple[str, ...] = tuple(m for m in METADATA if m != "events_by_type")
NUMERIC_SERIES: tuple[str, ...] = (
    "latency",
    "recordsLag",
    "events_delivered",
    "runs",
    "failed_runs",
    "batches_dlq",
    "success_rate",
)


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

    def add_hours(
        self,
        *,
        runs: int,
        succeeded: int,
        partial: int,
        failed: int,
        events_delivered: int,
        batches_dlq: int,
        latency_sum_ms: int,
        latency_count: int,
        last_delivery_at: datetime | None,
        events_pending_at: datetime | None,
        events_pending: int | None,
        events_by_type: Mapping[str, int],
    ) -> None:
        part = Tally(
            runs=runs,
            succeeded=succeeded,
            partial=partial,
            failed=failed,
            events_delivered=events_delivered,
            batches_dlq=batches_dlq,
        )
        part.events_by_type.update({k: v for k, v in events_by_type.items() if v})
        self.tally += part
        self.latency_sum_ms += latency_sum_ms
        self.latency_count += latency_count
        self.add_delivery(last_delivery_at)
        self.add_pending_gauge(events_pending_at, events_pending)

    def add_completed(
        self,
        *,
        outcome: str,
        started_at: datetime,
        completed_at: datetime,
        events_delivered: int,
        events_by_type: Mapping[str, int] | None,
        batches_dlq: int,
        latency_ms: int | None,
        events_pending: int | None,
    ) -> None:
        self.tally.add_run(outcome, events_delivered, events_by_type, batches_dlq)
        self.latency_sum_ms += run_latency_ms(latency_ms, started_at, completed_at)
        self.latency_count += 1
        if events_delivered > 0:
            self.add_delivery(completed_at)
        self.add_pending_gauge(completed_at if events_pending is not None else None, events_pending)

    def add_orphan(self) -> None:
        # An orphan has no latency, events or lag: it only counts as a failing run.
        self.tally.add_run("orphaned")


def success_rate(succeeded: int, finished: int) -> float | None:
    """Percent of finished runs that succeeded, one decimal; None with no finished runs."""
    if finished == 0:
        return None
    return round(100.0 * succeeded / finished, 1)


def mean_latency(latency_sum_ms: int, latency_count: int) -> float | None:
    if latency_count == 0:
        return None
    return round(latency_sum_ms / latency_count, 1)


def known_latest_failing(tally: Tally, n: int) -> list[bool] | None:
    """Whether the bucket's latest ``n`` finished runs are failing, when the counts alone tell.

    None means it depends on the order of the runs, so the caller must look at the newest runs.
    """
    if tally.runs == 0:
        return []
    if tally.failing == tally.runs:
        return [True] * min(n, tally.runs)
    if tally.failing < n:
        # Among the latest min(n, runs) runs at least one is not failing.
        return [False]
    return None


def latest_failing(runs: Sequence[tuple[tuple[datetime, datetime, str], str]], n: int) -> list[bool]:
    """From ``((time, started_at, id), outcome)`` pairs: the newest ``n``, failing or not."""
    newest = sorted(runs, key=lambda item: item[0], reverse=True)[:n]
    return [is_failing(outcome) for _, outcome in newest]


def bucket_status(tally: Tally, latest: Sequence[bool]) -> Status:
    """SPEC §3's rules with the bucket as the window (the bucket's latest runs, failures, events)."""
    return status(latest, tally.failing > 0, tally.events_delivered)


def summary_values(acc: Accumulator, event_types: Sequence[str], status_value: Status) -> dict[str, Any]:
    """One value per metric over a range (timesummary) or for the latest answer."""
    t = acc.tally
    return {
        "status": status_value,
        "latency": mean_latency(acc.latency_sum_ms, acc.latency_count),
        "recordsLag": acc.events_pending,
        "events_delivered": t.events_delivered,
        "events_by_type": events_breakdown(event_types, t.events_by_type, t.events_delivered),
        "runs": t.runs,
        "failed_runs": t.failing,
        "batches_dlq": t.batches_dlq,
        "success_rate": success_rate(t.succeeded, t.runs),
        "last_delivery_at": acc.last_delivery_at,
    }


def series_values(
    labels: Sequence[datetime],
    accs: Sequence[Accumulator],
    statuses: Sequence[Status],
    event_types: Sequence[str],
) -> dict[str, Any]:
    """Each metric as ``[{"timestamp", "value"}]``; events_by_type as type → such a list."""
    per_bucket = [summary_values(a, event_types, s) for a, s in zip(accs, statuses, strict=True)]
    out: dict[str, Any] = {}
    for metric in ("status", *NUMERIC_SERIES, "last_delivery_at"):
        out[metric] = [{"timestamp": t, "value": v[metric]} for t, v in zip(labels, per_bucket, strict=True)]
    # Every type that appears in any bucket, so each list has one point per bucket.
    keys: list[str] = []
    for v in per_bucket:
        for key in v["events_by_type"]:
            if key != TOTAL and key not in keys:
                keys.append(key)
    out["events_by_type"] = {
        key: [
            {"timestamp": t, "value": int(v["events_by_type"].get(key, 0))}
            for t, v in zip(labels, per_bucket, strict=True)
        ]
        for key in keys
    }
    return {m: out[m] for m in METADATA}
