"""Organisation health (SPEC §4.4) from per-type tallies, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipepulse.health.rules import TypeTally, summarise

T = datetime(2026, 4, 20, 10, tzinfo=UTC)
H = timedelta(hours=1)


def test_type_tally__counts_added__summed() -> None:
    tally = TypeTally()
    tally.add(total=3, success=2, errors=1)
    tally.add(total=4, success=1, errors=3)
    assert (tally.total, tally.success, tally.errors) == (7, 3, 4)


def test_type_tally__seen_in_any_order__latest_of_each_kind() -> None:
    tally = TypeTally()
    tally.seen(success=T - H)
    tally.seen(error=T + H)
    tally.seen(success=T, error=T - 2 * H)
    tally.seen(event=T - 3 * H)
    tally.seen()
    assert tally.last_success_at == T
    assert tally.last_error_at == T + H
    assert tally.last_event_at == T + H  # the latest of events, successes and errors


def test_type_tally__only_successes_seen__last_event_is_the_last_success() -> None:
    tally = TypeTally()
    tally.seen(success=T)
    tally.seen(success=T - H)
    assert (tally.last_event_at, tally.last_success_at, tally.last_error_at) == (T, T, None)


def test_type_tally__only_events_seen__no_success_or_error_time() -> None:
    tally = TypeTally()
    tally.seen(event=T)
    assert (tally.last_event_at, tally.last_success_at, tally.last_error_at) == (T, None, None)


def test_summarise__types_with_and_without_runs__one_entry_each_sorted_and_totals() -> None:
    sync = TypeTally(total=3, success=2, errors=1, last_event_at=T, last_success_at=T - H, last_error_at=T)
    checks = TypeTally(total=1, success=1, errors=0, last_event_at=T + H, last_success_at=T + H)
    tallies = {"metadata_sync": sync, "quality_check": checks, "not_a_connection_type": TypeTally(total=9)}
    out = summarise("acme", 7, ["webhook", "metadata_sync", "quality_check", "metadata_sync"], tallies)
    assert out.model_dump() == {
        "space_id": "acme",
        "period_days": 7,
        "total_events": 4,
        "success_count": 3,
        "error_count": 1,
        "success_rate": 75.0,
        "last_success_at": T + H,
        "last_error_at": T,
        "by_integration_type": [
            {"integration_type": "metadata_sync", "total": 3, "success": 2, "errors": 1, "last_event_at": T},
            {
                "integration_type": "quality_check",
                "total": 1,
                "success": 1,
                "errors": 0,
                "last_event_at": T + H,
            },
            {"integration_type": "webhook", "total": 0, "success": 0, "errors": 0, "last_event_at": None},
        ],
        "precision": "exact",  # the service sets these two from its plan
        "counted_from": None,
    }


def test_summarise__no_connections__zeroes_null_rate_and_no_entries() -> None:
    out = summarise("acme", 30, [], {})
    assert (out.total_events, out.success_count, out.error_count, out.success_rate) == (0, 0, 0, None)
    assert (out.last_success_at, out.last_error_at, out.by_integration_type) == (None, None, [])


def test_summarise__last_times__latest_across_types() -> None:
    a = TypeTally(total=1, success=1, last_success_at=T + 2 * H, last_error_at=T - H)
    b = TypeTally(total=1, errors=1, last_success_at=T, last_error_at=T + 3 * H)
    out = summarise("s", 1, ["a", "b"], {"a": a, "b": b})
    assert (out.last_success_at, out.last_error_at) == (T + 2 * H, T + 3 * H)
    out = summarise("s", 1, ["b", "a"], {"b": b, "a": a})
    assert (out.last_success_at, out.last_error_at) == (T + 2 * H, T + 3 * H)
