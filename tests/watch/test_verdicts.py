"""Freshness and volume verdicts (SPEC §7.2), worked through by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipepulse.watch.verdicts import freshness, freshness_sla, volume

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
    assert verdict.late
    assert verdict.late_by == timedelta(hours=2, minutes=10)


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
    assert not verdict.late


def test_freshness__never_delivered__counted_from_creation() -> None:
    verdict = freshness(
        state="connected",
        sla=timedelta(hours=1),
        last_delivery_at=None,
        created_at=NOW - timedelta(hours=3),
        now=NOW,
    )
    assert verdict.late_by == timedelta(hours=2)


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


def test_volume__tiny_baseline__floor_of_ten_events() -> None:
    assert volume(HOUR, 12, [0, 0, 0, 0, 0]).verdict == "spike"
    assert volume(HOUR, 10, [0, 0, 0, 0, 0]).verdict == "normal"
