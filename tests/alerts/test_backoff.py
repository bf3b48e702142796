"""SPEC §7.3's retry schedule: from 1 minute, doubling, at most 1 hour apart, for 24 hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pipepulse.delivery import backoff

DUE = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


def test_delay__first_attempts__doubles_from_one_minute_to_an_hour() -> None:
    assert [backoff.delay(n).total_seconds() / 60 for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_next_attempt__failing_forever__given_up_after_24_hours() -> None:
    at, attempts = DUE, 0
    while True:
        attempts += 1
        following = backoff.next_attempt(DUE, attempts, at)
        if following is None:
            break
        at = following
    assert at <= DUE + timedelta(hours=24)
    assert at + timedelta(hours=1) > DUE + timedelta(hours=24)
    assert attempts == 29  # 1 + 6 doubling waits (63 min) + 22 hourly ones


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=0, max_value=200_000))
def test_next_attempt__any_failure__within_budget_and_cap(attempts: int, seconds_late: int) -> None:
    failed_at = DUE + timedelta(seconds=seconds_late)
    following = backoff.next_attempt(DUE, attempts, failed_at)
    if following is not None:
        assert timedelta(minutes=1) <= following - failed_at <= timedelta(hours=1)
        assert following <= DUE + timedelta(hours=24)
