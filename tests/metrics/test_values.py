"""The metric table and what each metric means over a bucket's accumulated runs (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipepulse.db.run_rows import RunRow
from pipepulse.metrics import values
from pipepulse.metrics.values import Accumulator
from pipepulse.rules import Tally
from pipepulse.status import bucket

T = datetime(2026, 4, 20, 10, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def run(
    outcome: str = "succeeded",
    *,
    completed_at: datetime = T,
    started_at: datetime | None = None,
    events_delivered: int = 0,
    events_by_type: dict[str, int] | None = None,
    batches_dlq: int = 0,
    error: str | None = None,
    latency_ms: int | None = None,
    events_pending: int | None = None,
) -> RunRow:
    return RunRow(
        connection_id="wc_1",
        id=f"r-{completed_at.isoformat()}-{outcome}",
        organisation_id=1,
        started_at=started_at or completed_at - MINUTE,
        outcome=outcome,
        completed_at=completed_at,
        events_delivered=events_delivered,
        batches_dlq=batches_dlq,
        error=error,
        events_by_type=events_by_type,
        latency_ms=latency_ms,
        events_pending=events_pending,
        bytes_delivered=None,
    )


def test_metric_table__every_metric__named_with_unit_in_answer_order() -> None:
    # Derived from MetricValues' annotations; derive it again to see the derivation itself.
    assert values._metric_table() == values.METRICS
    assert values.METRICS["status"] == values.Metric("Pipeline Status", "status", "scalar")
    assert list(values.METADATA) == [
        "status", "latency", "recordsLag", "events_delivered", "events_by_type", "runs", "failed_runs",
        "batches_dlq", "success_rate", "last_delivery_at",
    ]  # fmt: skip
    assert values.METADATA["latency"] == {"name": "Pipeline Latency", "unit": "milliseconds"}
    assert values.METADATA["recordsLag"] == {"name": "Lag in Events", "unit": "count"}
    assert values.METADATA["success_rate"] == {"name": "Success Rate", "unit": "percent"}
    assert values.METADATA["last_delivery_at"] == {"name": "Last Delivery", "unit": "timestamp"}


def test_scalar_metrics__table__all_but_the_breakdown() -> None:
    assert values.SCALAR_METRICS == (
        "status", "latency", "recordsLag", "events_delivered", "runs", "failed_runs", "batches_dlq",
        "success_rate", "last_delivery_at",
    )  # fmt: skip
    assert values.METRICS["events_by_type"].kind == "breakdown"


def test_accumulator__completed_runs__latency_deliveries_and_lag() -> None:
    acc = Accumulator()
    acc.add_run(run(completed_at=T, events_delivered=10, latency_ms=300, events_pending=5))
    acc.add_run(
        run("partial", completed_at=T + MINUTE, batches_dlq=2, events_pending=9)
    )  # no events: no delivery
    acc.add_run(
        run("failed", completed_at=T - MINUTE, started_at=T - 3 * MINUTE, error="x", events_delivered=1)
    )
    assert (acc.tally.runs, acc.tally.succeeded, acc.tally.partial, acc.tally.failed) == (3, 1, 1, 1)
    assert acc.latency_sum_ms == 300 + 60_000 + 120_000
    assert acc.latency_count == 3
    assert acc.last_delivery_at == T
    assert (acc.events_pending_at, acc.events_pending) == (T + MINUTE, 9)


def test_accumulator__pending_gauges_at_the_same_instant__larger_value_whatever_the_order() -> None:
    for order in ([3, 8], [8, 3]):
        acc = Accumulator()
        for value in order:
            acc.add_pending_gauge(T, value)
        assert acc.events_pending == 8
    acc = Accumulator()
    acc.add_pending_gauge(T, 50)
    acc.add_pending_gauge(T - MINUTE, 99)  # older: ignored
    acc.add_pending_gauge(None, 1)
    acc.add_pending_gauge(T + MINUTE, None)
    assert (acc.events_pending_at, acc.events_pending) == (T, 50)


def test_accumulator__deliveries__the_latest_kept() -> None:
    acc = Accumulator()
    for at in (T, T - MINUTE, None, T + MINUTE, T):
        acc.add_delivery(at)
    assert acc.last_delivery_at == T + MINUTE


def test_accumulator__added_to_another__every_count_and_gauge_combined() -> None:
    a, b = Accumulator(), Accumulator()
    a.add_run(run(events_delivered=6, events_by_type={"evaluations": 4}, latency_ms=100, events_pending=2))
    a.add_run(run("failed", completed_at=T - MINUTE, error="x", latency_ms=10))
    a.add_orphan()
    b.add_run(run("partial", completed_at=T + MINUTE, batches_dlq=1, events_delivered=3, latency_ms=50))
    b.add_run(run("succeeded", completed_at=T + 2 * MINUTE, latency_ms=40, events_pending=7))
    b.add_run(run("failed", completed_at=T, error="y", latency_ms=0))
    a += b
    t = a.tally
    assert (t.runs, t.succeeded, t.partial, t.failed, t.orphaned) == (6, 2, 1, 2, 1)
    assert (t.events_delivered, t.batches_dlq) == (9, 1)
    assert t.events_by_type == {"evaluations": 4, "other": 5}
    assert (a.latency_sum_ms, a.latency_count) == (200, 5)
    assert a.last_delivery_at == T + MINUTE
    assert (a.events_pending_at, a.events_pending) == (T + 2 * MINUTE, 7)
    assert (b.tally.runs, b.latency_count) == (3, 3)  # the right-hand side is left alone


def test_accumulator__older_gauges_added__the_newer_kept() -> None:
    a, b = Accumulator(), Accumulator()
    a.add_run(run(completed_at=T, events_delivered=1, events_pending=3))
    b.add_run(run(completed_at=T - MINUTE, events_delivered=1, events_pending=9))
    a += b
    assert (a.last_delivery_at, a.events_pending_at, a.events_pending) == (T, T, 3)


def test_accumulator__events_of_rollup_hours__added_without_counting_runs() -> None:
    acc = Accumulator()
    acc.add_run(run(events_delivered=2, events_by_type={"evaluations": 2}))
    acc.add_events({"evaluations": 4, "custom_events": 1, "zero": 0})
    assert acc.tally.events_by_type == {"evaluations": 6, "custom_events": 1}
    assert (acc.tally.runs, acc.tally.events_delivered) == (1, 2)


def test_accumulator__run_delivering_a_single_event__counts_as_a_delivery() -> None:
    acc = Accumulator()
    acc.add_run(run(events_delivered=1))
    assert acc.last_delivery_at == T


def test_accumulator__orphan__one_failing_run_with_nothing_else() -> None:
    acc = Accumulator()
    acc.add_orphan()
    assert (acc.tally.runs, acc.tally.orphaned, acc.tally.failing) == (1, 1, 1)
    assert (acc.tally.events_delivered, acc.latency_count, acc.last_delivery_at) == (0, 0, None)


@pytest.mark.parametrize(
    ("total", "count", "mean"), [(0, 0, None), (300, 2, 150.0), (100, 3, 33.3), (200, 3, 66.7), (5, 1, 5.0)]
)
def test_mean_latency__sum_and_count__mean_to_one_decimal(total: int, count: int, mean: float | None) -> None:
    assert values.mean_latency(total, count) == mean


def _tally(runs: int, failing: int) -> Tally:
    return Tally(runs=runs, succeeded=runs - failing, failed=failing)


@pytest.mark.parametrize(
    ("runs", "failing", "n", "known"),
    [
        (0, 0, 3, []),  # no runs: nothing failing
        (4, 4, 3, [True, True, True]),  # all failing: the latest 3 are
        (2, 2, 3, [True, True]),
        (5, 2, 3, [False]),  # fewer failures than 3: at least one of the latest is fine
        (5, 0, 3, [False]),
        (5, 3, 3, None),  # depends on which runs are newest
        (5, 4, 3, None),
        (1, 0, 1, [False]),
        (2, 1, 1, None),
    ],
)
def test_known_latest_failing__counts__decided_only_when_order_cannot_matter(
    runs: int, failing: int, n: int, known: list[bool] | None
) -> None:
    assert bucket.known_latest_failing(_tally(runs, failing), n) == known


def test_latest_failing__runs_in_any_order__newest_n_by_time_then_start_then_id() -> None:
    runs = [
        ((T, T - MINUTE, "b"), "failed"),
        ((T + MINUTE, T, "a"), "succeeded"),
        ((T, T - MINUTE, "c"), "partial"),  # same time and start as "b": the larger id is newer
        ((T - MINUTE, T - MINUTE, "d"), "orphaned"),
    ]
    assert bucket.latest_failing(runs, 3) == [False, True, True]
    assert bucket.latest_failing(runs, 10) == [False, True, True, True]
    assert bucket.latest_failing(list(reversed(runs)), 2) == [False, True]
    assert bucket.latest_failing([], 3) == []
    # Newest by time, not by outcome: the failure is the newest.
    assert bucket.latest_failing([((T - MINUTE, T, "x"), "succeeded"), ((T, T, "y"), "failed")], 1) == [True]


@pytest.mark.parametrize(
    ("tally", "latest", "status"),
    [
        (Tally(runs=2, failed=2), [True, True], "error"),
        (Tally(runs=2, succeeded=1, failed=1, events_delivered=5), [False, True], "degraded"),
        (Tally(runs=1, orphaned=1), [True], "error"),
        (Tally(runs=1, succeeded=1, events_delivered=5), [False], "active"),
        (Tally(runs=1, succeeded=1), [False], "idle"),
        (Tally(), [], "idle"),
    ],
)
def test_bucket_status__tally_and_latest__spec_rules_over_the_bucket(
    tally: Tally, latest: list[bool], status: str
) -> None:
    assert bucket.bucket_status(tally, latest) == status


def test_summary_values__accumulated_runs__every_metric() -> None:
    acc = Accumulator()
    acc.add_run(run(events_delivered=10, events_by_type={"evaluations": 7}, latency_ms=100, events_pending=4))
    acc.add_run(run("failed", completed_at=T + MINUTE, error="x", latency_ms=201))
    acc.add_orphan()
    out = values.summary_values(acc, ["evaluations", "custom_events"], "degraded")
    assert out == {
        "status": "degraded",
        "latency": 150.5,
        "recordsLag": 4,
        "events_delivered": 10,
        "events_by_type": {"evaluations": 7, "custom_events": 0, "other": 3, "total": 10},
        "runs": 3,
        "failed_runs": 2,
        "batches_dlq": 0,
        "success_rate": 33.3,
        "last_delivery_at": T,
    }


def test_series_values__buckets__one_point_per_bucket_and_a_list_per_type_seen() -> None:
    first, empty, last = Accumulator(), Accumulator(), Accumulator()
    first.add_run(run(events_delivered=5, events_by_type={"evaluations": 5}))
    last.add_run(run(completed_at=T + 2 * MINUTE, events_delivered=4, events_by_type={"legacy": 1}))
    labels = [T, T + MINUTE, T + 2 * MINUTE]
    out = values.series_values(labels, [first, empty, last], ["active", "idle", "active"], ["evaluations"])
    assert list(out) == list(values.METADATA)
    for name in values.SCALAR_METRICS:
        assert [p["timestamp"] for p in out[name]] == labels  # type: ignore[index]
    assert [p["value"] for p in out["status"]] == ["active", "idle", "active"]  # type: ignore[index]
    assert [p["value"] for p in out["runs"]] == [1, 0, 1]  # type: ignore[index]
    assert [p["value"] for p in out["success_rate"]] == [100.0, None, 100.0]  # type: ignore[index]
    by_type = out["events_by_type"]
    assert isinstance(by_type, dict)
    assert {k: [p["value"] for p in v] for k, v in by_type.items()} == {
        "evaluations": [5, 0, 0],
        "legacy": [0, 0, 1],
        "other": [0, 0, 3],
    }
    assert list(by_type) == ["evaluations", "legacy", "other"]
    assert all([p["timestamp"] for p in v] == labels for v in by_type.values())


def test_series_values__type_only_in_an_early_bucket__kept_with_zeroes_after() -> None:
    early, late = Accumulator(), Accumulator()
    early.add_run(run(events_delivered=2, events_by_type={"legacy": 2}))
    late.add_run(run(completed_at=T + MINUTE, events_delivered=3, events_by_type={"evaluations": 3}))
    out = values.series_values([T, T + MINUTE], [early, late], ["active", "active"], ["evaluations"])
    by_type = out["events_by_type"]
    assert isinstance(by_type, dict)
    assert {k: [p["value"] for p in v] for k, v in by_type.items()} == {
        "evaluations": [0, 3],
        "legacy": [2, 0],
    }


@pytest.mark.parametrize(
    ("labels", "accs", "statuses"),
    [([T], 2, ["idle", "idle"]), ([T, T], 2, ["idle"]), ([T], 1, ["idle", "idle"])],
)
def test_series_values__mismatched_lengths__refused(
    labels: list[datetime], accs: int, statuses: list[str]
) -> None:
    with pytest.raises(ValueError, match="zip"):
        values.series_values(labels, [Accumulator() for _ in range(accs)], statuses, [])  # type: ignore[arg-type]
