"""SPEC §3's rules as pure functions: outcomes, windows, status, breakdowns, severity.

Fast and free of I/O, so they also serve the mutation check (scripts/mutation): every
expected value here is written out by hand from SPEC.md, never computed by pipepulse.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipepulse import rules
from pipepulse.rules import Tally

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
SECOND = timedelta(seconds=1)


# --- outcomes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "batches_dlq", "expected"),
    [
        (None, 0, "succeeded"),
        (None, 1, "partial"),
        (None, 7, "partial"),
        ("disk full", 0, "failed"),
        ("disk full", 3, "failed"),  # an error wins over dead-lettered batches
        ("", 0, "failed"),  # stored errors are never empty; an empty one is still an error
    ],
)
def test_completed_outcome__error_and_dlq__failed_beats_partial_beats_succeeded(
    error: str | None, batches_dlq: int, expected: str
) -> None:
    assert rules.completed_outcome(error, batches_dlq) == expected


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(0), "pending"),
        (WINDOW - SECOND, "pending"),
        (WINDOW, "orphaned"),
        (WINDOW + SECOND, "orphaned"),
    ],
)
def test_run_outcome__never_completed__orphaned_from_the_window_end_on(age: timedelta, expected: str) -> None:
    outcome = rules.run_outcome(
        started_at=NOW - age, completed_at=None, error=None, batches_dlq=0, now=NOW, orphan_window=WINDOW
    )
    assert outcome == expected
    assert rules.is_orphaned(NOW - age, NOW, WINDOW) is (expected == "orphaned")


def test_run_outcome__completed_long_after_the_window__its_report_decides() -> None:
    started = NOW - timedelta(hours=5)
    common = {"started_at": started, "completed_at": NOW, "now": NOW, "orphan_window": WINDOW}
    assert rules.run_outcome(error=None, batches_dlq=0, **common) == "succeeded"  # type: ignore[arg-type]
    assert rules.run_outcome(error=None, batches_dlq=2, **common) == "partial"  # type: ignore[arg-type]
    assert rules.run_outcome(error="x", batches_dlq=0, **common) == "failed"  # type: ignore[arg-type]


def test_orphaned_before__now__one_window_earlier() -> None:
    assert rules.orphaned_before(NOW, WINDOW) == datetime(2026, 4, 20, 11, 45, tzinfo=UTC)


def test_finished_time__completed_or_orphan__completion_or_window_end() -> None:
    started = datetime(2026, 4, 20, 10, 0, tzinfo=UTC)
    completed = datetime(2026, 4, 20, 10, 3, tzinfo=UTC)
    assert rules.finished_time(started, completed, WINDOW) == completed
    assert rules.finished_time(started, None, WINDOW) == datetime(2026, 4, 20, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("outcome", "failing"),
    [("pending", False), ("succeeded", False), ("partial", True), ("failed", True), ("orphaned", True)],
)
def test_is_failing__each_outcome__partial_failed_orphaned_only(outcome: str, failing: bool) -> None:
    assert rules.is_failing(outcome) is failing
    assert (outcome in rules.FAILING) is failing


# --- windows --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "inside"),
    [
        (-SECOND, False),  # the future is not in a window that ends now
        (timedelta(0), True),  # upper bound included
        (timedelta(hours=24) - SECOND, True),
        (timedelta(hours=24) - timedelta(microseconds=1), True),
        (timedelta(hours=24), False),  # lower bound excluded
        (timedelta(hours=25), False),
    ],
)
def test_in_window__rolling_24h__lower_bound_excluded_upper_included(age: timedelta, inside: bool) -> None:
    assert rules.in_window(NOW - age, NOW, rules.DAY) is inside


def test_windows__day_and_week__24_hours_and_7_days() -> None:
    assert rules.DAY == timedelta(hours=24)
    assert rules.WEEK == timedelta(days=7)


# --- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latest", "any_failing", "events", "expected"),
    [
        ([True, True, True], True, 500, "error"),  # the latest 3 all failing, whatever else
        ([True], True, 0, "error"),  # fewer than 3 finished runs, all failing
        ([True, True, False], True, 500, "degraded"),
        ([False, True, True], True, 0, "degraded"),
        ([False, False, False], True, 10, "degraded"),  # an older failure in the window
        ([False], False, 1, "active"),
        ([False, False], False, 0, "idle"),  # runs that delivered nothing
        ([], False, 0, "idle"),  # no finished run in 24h
        ([], False, 5, "active"),
        ([], True, 0, "degraded"),
    ],
)
def test_status__rule_inputs__first_matching_rule_of_spec(
    latest: list[bool], any_failing: bool, events: int, expected: str
) -> None:
    assert rules.status(latest, any_failing, events) == expected


def test_statuses__order__healthiest_first() -> None:
    assert rules.STATUSES == ("active", "idle", "degraded", "error")


@pytest.mark.parametrize(("status", "rank"), [("active", 0), ("idle", 1), ("degraded", 2), ("error", 3)])
def test_severity__each_status__its_place_healthiest_first(status: str, rank: int) -> None:
    assert rules.severity(status) == rank


def test_severity__unknown_status__value_error() -> None:
    with pytest.raises(ValueError, match="not in tuple"):
        rules.severity("great")


def test_thresholds__defaults__those_of_spec() -> None:
    t = rules.Thresholds()
    assert (t.orphan_window, t.error_status_runs, t.recent_errors_limit) == (timedelta(minutes=15), 3, 10)


# --- latency, rates, messages ---------------------------------------------------------------


def test_run_latency_ms__reported__the_reported_value() -> None:
    assert rules.run_latency_ms(250, NOW - timedelta(minutes=5), NOW) == 250
    assert rules.run_latency_ms(0, NOW - timedelta(minutes=5), NOW) == 0


def test_run_latency_ms__not_reported__the_duration_in_whole_milliseconds() -> None:
    started = NOW - timedelta(seconds=90, microseconds=1500)
    assert rules.run_latency_ms(None, started, NOW) == 90_001
    assert rules.run_latency_ms(None, NOW, NOW) == 0


def test_run_latency_ms__completed_before_started__never_negative() -> None:
    assert rules.run_latency_ms(None, NOW, NOW - SECOND) == 0


@pytest.mark.parametrize(
    ("succeeded", "finished", "expected"),
    [(0, 0, None), (0, 4, 0.0), (1, 3, 33.3), (2, 3, 66.7), (3, 3, 100.0), (1, 8, 12.5), (1, 1000, 0.1)],
)
def test_success_rate__counts__percent_to_one_decimal_none_without_runs(
    succeeded: int, finished: int, expected: float | None
) -> None:
    assert rules.success_rate(succeeded, finished) == expected


@pytest.mark.parametrize(
    ("window", "words"),
    [
        (timedelta(minutes=15), "15 minutes"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(minutes=90), "90 minutes"),
        (timedelta(seconds=90), "90 seconds"),
    ],
)
def test_orphan_message__window__worded_in_its_largest_whole_unit(window: timedelta, words: str) -> None:
    assert rules.describe_duration(window) == words
    assert rules.orphan_message(window) == f"loader did not report back within {words}"


@pytest.mark.parametrize(
    ("outcome", "error", "dlq", "message"),
    [
        ("failed", "permission denied", 0, "permission denied"),
        ("failed", None, 0, "run failed"),
        ("failed", "", 0, "run failed"),
        ("orphaned", None, 0, "loader did not report back within 15 minutes"),
        ("partial", None, 2, "2 batches moved to the dead-letter queue"),
        ("succeeded", None, 0, None),
        ("pending", None, 0, None),
    ],
)
def test_error_message__each_outcome__the_recent_errors_wording(
    outcome: str, error: str | None, dlq: int, message: str | None
) -> None:
    assert rules.error_message(outcome, error, dlq, WINDOW) == message


# --- events by type -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered", "by_type", "expected"),
    [
        (0, None, {}),
        (150, None, {"other": 150}),
        (150, {"evaluations": 100, "custom_events": 50}, {"evaluations": 100, "custom_events": 50}),
        (150, {"evaluations": 100}, {"evaluations": 100, "other": 50}),
        (10, {"evaluations": 0, "custom_events": 10}, {"custom_events": 10}),  # zeroes dropped
        (10, {"other": 4}, {"other": 10}),  # a type literally named other adds up with the rest
        (5, {"evaluations": 8}, {"evaluations": 8}),  # never a negative other
        (1, None, {"other": 1}),
        (3, {"evaluations": 2}, {"evaluations": 2, "other": 1}),
    ],
)
def test_typed_events__a_run__its_types_and_the_rest_as_other(
    delivered: int, by_type: dict[str, int] | None, expected: dict[str, int]
) -> None:
    assert rules.typed_events(delivered, by_type) == expected


def test_events_breakdown__configured_types__each_listed_even_at_zero_then_total() -> None:
    out = rules.events_breakdown(["evaluations", "custom_events"], {"evaluations": 7}, 7)
    assert out == {"evaluations": 7, "custom_events": 0, "total": 7}
    assert list(out) == ["evaluations", "custom_events", "total"]


def test_events_breakdown__type_removed_from_connection__keeps_its_own_key_while_counted() -> None:
    by_type = {"evaluations": 5, "legacy": 3, "zombie": 0, "other": 2}
    out = rules.events_breakdown(["evaluations"], by_type, 10)
    assert out == {"evaluations": 5, "legacy": 3, "other": 2, "total": 10}
    assert list(out) == ["evaluations", "legacy", "other", "total"]


def test_events_breakdown__unexplained_events__other_only_when_positive() -> None:
    assert rules.events_breakdown(["a"], {"a": 4}, 9) == {"a": 4, "other": 5, "total": 9}
    assert rules.events_breakdown(["a"], {"a": 4}, 4) == {"a": 4, "total": 4}
    assert rules.events_breakdown(["a"], {"a": 4}, 5) == {"a": 4, "other": 1, "total": 5}
    assert rules.events_breakdown(["a"], {"a": 4, "other": 99}, 4) == {"a": 4, "total": 4}


def test_events_breakdown__removed_types__sorted_by_name_after_configured_ones() -> None:
    out = rules.events_breakdown(["b"], {"z": 1, "b": 1, "c": 1}, 3)
    assert list(out) == ["b", "c", "z", "total"]


@given(
    configured=st.lists(st.sampled_from(["a", "b", "c"]), unique=True),
    counts=st.dictionaries(st.sampled_from(["a", "b", "c", "d", "other"]), st.integers(0, 50)),
    extra=st.integers(0, 50),
)
def test_events_breakdown__any_counts__total_is_the_sum_of_the_other_keys(
    configured: list[str], counts: dict[str, int], extra: int
) -> None:
    total = sum(v for k, v in counts.items() if k != "other") + extra
    out = rules.events_breakdown(configured, counts, total)
    assert out["total"] == total
    assert sum(v for k, v in out.items() if k != "total") == total
    assert all(k in out for k in configured)
    assert all(v > 0 for k, v in out.items() if k not in configured and k != "total")


# --- tallies --------------------------------------------------------------------------------


def test_tally__runs_of_every_outcome__counted_by_kind() -> None:
    tally = Tally()
    tally.add_run("succeeded", 10, {"evaluations": 6})
    tally.add_run("partial", 5, None, batches_dlq=2)
    tally.add_run("failed")
    tally.add_run("orphaned")
    tally.add_run("orphaned")
    assert (tally.runs, tally.succeeded, tally.partial, tally.failed, tally.orphaned) == (5, 1, 1, 1, 2)
    assert tally.events_delivered == 15
    assert tally.batches_dlq == 2
    assert tally.failing == 4
    assert tally.failed_deliveries == 2 + 1 + 2  # DLQ batches plus one per failed or orphaned run
    assert tally.events_by_type == Counter({"other": 9, "evaluations": 6})


def test_tally__several_runs_of_each_outcome__each_counted_every_time() -> None:
    tally = Tally()
    for outcome in ("succeeded", "partial", "failed", "orphaned") * 3:
        tally.add_run(outcome, batches_dlq=1 if outcome == "partial" else 0)
    assert (tally.runs, tally.succeeded, tally.partial, tally.failed, tally.orphaned) == (12, 3, 3, 3, 3)
    assert (tally.failing, tally.batches_dlq, tally.failed_deliveries) == (9, 3, 9)


def test_tally__added_together__every_count_summed() -> None:
    a, b = Tally(), Tally()
    for outcome in ("succeeded", "partial", "failed", "orphaned"):
        a.add_run(outcome, 3, {"x": 3}, batches_dlq=2 if outcome == "partial" else 0)
        b.add_run(outcome, 2, {"x": 1}, batches_dlq=3 if outcome == "partial" else 0)
    b.add_run("failed")
    b.add_run("orphaned")
    a += b
    assert (a.runs, a.succeeded, a.partial, a.failed, a.orphaned) == (10, 2, 2, 3, 3)
    assert (a.events_delivered, a.batches_dlq) == (20, 5)
    assert a.events_by_type == Counter({"x": 16, "other": 4})
    assert (b.runs, b.events_delivered) == (6, 8)  # the right-hand side is left alone
