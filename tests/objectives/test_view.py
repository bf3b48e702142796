"""The dashboard's words for a budget (docs/objectives.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipepulse.objectives.budget import Budget
from pipepulse.objectives.view import sentence

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def reading(remaining: float, exhausted_at: datetime | None) -> Budget:
    return Budget(
        sli_percent=99.9,
        target_percent=99.5,
        budget_seconds=12096.0,
        budget_spent_seconds=0.0,
        budget_remaining_percent=remaining,
        burn_rates={"1h": 0.0, "6h": 0.0, "24h": 0.0, "72h": 0.0},
        exhausted_at=exhausted_at,
        window_start=NOW - timedelta(days=28),
        as_of=NOW,
    )


def test_sentence__burning__percent_left_and_the_day_it_runs_out() -> None:
    assert (
        sentence(reading(62.4, datetime(2026, 12, 14, 3, tzinfo=UTC)), 30)
        == "62 % of the 30-day budget left; at the last day's rate it runs out on 14 Dec"
    )


def test_sentence__runs_out_next_year__says_the_year() -> None:
    assert sentence(reading(99.5, datetime(2027, 2, 1, tzinfo=UTC)), 28).endswith("runs out on 1 Feb 2027")


def test_sentence__nothing_burning__says_so() -> None:
    assert (
        sentence(reading(100.0, None), 7)
        == "100 % of the 7-day budget left; nothing burned it in the last day"
    )


def test_sentence__overspent__how_much_was_used() -> None:
    assert sentence(reading(-257.14, NOW), 7) == "The 7-day budget is spent: 357 % of it used"
