"""Freshness and volume verdicts (SPEC §7.2), worked through by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipepulse.status.verdicts import Freshness, Volume, baseline_hours, freshness, freshness_sla, volume

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
HOUR = datetime(2026, 4, 20, 11, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)


def test_freshness_sla__not_set__two_intervals_plus_the_orphan_window() -> None:
    assert freshness_sla(None, 3600, WINDOW) == timedelta(hours=2, minutes=15)
    assert freshness_sla(600, 3600, WINDOW) == timedelta(minutes=10)


def test_freshness__past_the_sla__late_by_the_excess() -> None:
    sla = timedelta(hours=2, minutes=15)
    verdict = freshness(
        state="connected",
        sla=sla,
        last_delivery_at=NOW - timedelta(hours=4, minutes=25),
        created_at=NOW,
        now=NOW,
    )
    assert verdict == Freshness(
        sla, NOW - timedelta(hours=4, minutes=25), True, timedelta(hours=2, minutes=10)
    )


def test_freshness__exactly_at_the_sla__not_late() -> None:
    sla = timedelta(hours=1)
    verdict = freshness(state="error", sla=sla, last_delivery_at=NOW - sla, created_at=NOW, now=NOW)
    assert not verdict.late
    assert verdict.late_by == timedelta(0)


@pytest.mark.parametrize("state", ["paused", "pending_customer_setup", "rotating"])
def test_freshness__not_scheduled__never_late(state: str) -> None:
    verdict = freshness(
        state=state,
        sla=timedelta(hours=1),
        last_delivery_at=None,
        created_at=NOW - timedelta(days=9),
        now=NOW,
    )
    # Nine days without a delivery, but the scheduler does not run it: not late, by nothing.
    assert verdict == Freshness(timedelta(hours=1), None, False, timedelta(0))


def test_freshness__never_delivered__counted_from_creation() -> None:
    verdict = freshness(
        state="connected",
        sla=timedelta(hours=1),
        last_delivery_at=None,
        created_at=NOW - timedelta(hours=3),
        now=NOW,
    )
    assert verdict.late_by == timedelta(hours=2)


def test_baseline_hours__the_same_hour_on_each_of_the_seven_days_before__newest_first() -> None:
    assert baseline_hours(HOUR) == [HOUR - timedelta(days=d) for d in (1, 2, 3, 4, 5, 6, 7)]
    assert baseline_hours(HOUR)[0] == datetime(2026, 4, 19, 11, 0, tzinfo=UTC)
    assert baseline_hours(HOUR)[-1] == datetime(2026, 4, 13, 11, 0, tzinfo=UTC)


def test_volume__answer__names_the_hour_the_actual_count_and_the_baseline() -> None:
    assert volume(HOUR, 10, [100] * 4) == Volume(HOUR, 10, "insufficient", 4)
    assert volume(HOUR, 1100, [1000] * 5) == Volume(HOUR, 1100, "ok", 5, 1000.0, 750.0, 1250.0, "normal")


def test_volume__four_hours_of_baseline__insufficient_and_no_verdict() -> None:
    verdict = volume(HOUR, 10, [100, 100, 100, 100])
    assert verdict.baseline == "insufficient"
    assert verdict.baseline_hours == 4
    assert verdict.verdict is None
    assert verdict.expected is None


def test_volume__steady_baseline__band_is_a_quarter_of_the_median() -> None:
    verdict = volume(HOUR, 700, [1000, 1000, 1010, 990, 1000, 1000, 1000])
    # MAD = 0, so the band is max(0, 250, 10) = 250 either side of 1000.
    assert (verdict.expected, verdict.lower, verdict.upper) == (1000.0, 750.0, 1250.0)
    assert verdict.verdict == "drop"
    assert volume(HOUR, 1250, [1000] * 5).verdict == "normal"
    assert volume(HOUR, 1251, [1000] * 5).verdict == "spike"


def test_volume__noisy_baseline__band_is_four_scaled_mads() -> None:
    baseline = [100, 300, 500, 700, 900]
    verdict = volume(HOUR, 0, baseline)
    # median 500, MAD = median(400, 200, 0, 200, 400) = 200 → half-width 4 * 1.4826 * 200.
    half = 4 * 1.4826 * 200
    assert verdict.expected == 500.0
    assert verdict.upper == round(500 + half, 2)
    assert verdict.lower == 0.0  # never below zero
    assert verdict.verdict == "normal"


def test_volume__band_edges_with_three_decimals__shown_rounded_to_two() -> None:
    baseline = [40, 41, 43, 47, 50, 52]
    verdict = volume(HOUR, 19, baseline)
    # median (43 + 47) / 2 = 45; MAD = median(5, 4, 2, 2, 5, 7) = 4.5 → half-width
    # 4 * 1.4826 * 4.5 = 26.6868, so the band is 18.3132 … 71.6868, shown to the cent.
    assert (verdict.expected, verdict.lower, verdict.upper) == (45.0, 18.31, 71.69)
    assert verdict.verdict == "normal"
    assert volume(HOUR, 18, baseline).verdict == "drop"  # 18 < 18.3132
    assert volume(HOUR, 71, baseline).verdict == "normal"
    assert volume(HOUR, 72, baseline).verdict == "spike"  # 72 > 71.6868


def test_volume__even_number_of_hours__expected_is_the_mean_of_the_middle_two() -> None:
    verdict = volume(HOUR, 40, [10, 20, 30, 41, 50, 60])
    # median (30 + 41) / 2 = 35.5, kept whole (not rounded to an integer); MAD = 15 →
    # half-width 88.956: the lower edge stops at zero, the upper is 124.456.
    assert (verdict.expected, verdict.lower, verdict.upper) == (35.5, 0.0, 124.46)
    assert verdict.baseline_hours == 6


def test_volume__actual_exactly_on_the_lower_edge__normal_one_below__drop() -> None:
    baseline = [1000] * 5
    assert volume(HOUR, 750, baseline).verdict == "normal"
    assert volume(HOUR, 749, baseline).verdict == "drop"


def test_volume__tiny_baseline__floor_of_ten_events() -> None:
    assert volume(HOUR, 12, [0, 0, 0, 0, 0]).verdict == "spike"
    assert volume(HOUR, 10, [0, 0, 0, 0, 0]).verdict == "normal"
