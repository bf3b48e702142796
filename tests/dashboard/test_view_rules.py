"""The dashboard's wording and chart geometry (pure functions)."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipepulse.dashboard import charts, format
from pipepulse.rules import Status
from pipepulse.status import reasons
from pipepulse.telemetry.service import StatusBasis

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


def status_reason(
    status: Status, basis: StatusBasis, last_delivery_at: datetime | None, now: datetime
) -> str:
    """A reason's text as the pages show it (``status.reasons`` words it for every screen)."""
    return reasons.status_reason(
        status, basis, last_delivery_at=last_delivery_at, any_finished=True, now=now
    ).text


@pytest.mark.parametrize(
    ("status", "basis", "expected"),
    [
        ("error", StatusBasis((True, True, True), 7, 3, 10), "The last 3 finished runs were all failing."),
        ("error", StatusBasis((True, True), 2, 2, 0), "All 2 runs that finished in the last 24 hours"),
        ("error", StatusBasis((True,), 1, 1, 0), "The only run that finished in the last 24 hours"),
        ("degraded", StatusBasis((False, True, True), 5, 2, 9), "the latest run succeeded"),
        (
            "degraded",
            StatusBasis((True, False, True), 5, 2, 9),
            "the latest run failed, but 1 of the last 3 succeeded",
        ),
        ("active", StatusBasis((False,), 4, 0, 1234), "1,234 events delivered in the last 24 hours by 4"),
        ("idle", StatusBasis((False,), 2, 0, 0), "2 runs finished in the last 24 hours without failing"),
        ("idle", StatusBasis((), 0, 0, 0), "Nothing delivered yet"),
    ],
)
def test_status_reason__each_status_and_basis__worded_from_the_rule_inputs(
    status: str, basis: StatusBasis, expected: str
) -> None:
    assert expected in status_reason(status, basis, None, NOW)  # type: ignore[arg-type]


def test_status_reason__idle_after_deliveries__says_when_the_last_was() -> None:
    reason = status_reason("idle", StatusBasis((), 0, 0, 0), NOW - timedelta(days=3, hours=2), NOW)
    assert reason == "No run finished in the last 24 hours; the last delivery was 3 days ago."


def test_stacked_bars__a_week__one_group_per_hour_stacked_in_configured_order() -> None:
    hours = charts.hours_back(NOW, 168)
    by_type = {hours[-1]: {"custom_events": 30, "evaluations": 70}, hours[0]: {"other": 5}}
    chart = charts.stacked_bars(hours, by_type, {hours[-1]: 2}, ["evaluations", "custom_events"])

    assert len(chart.groups) == 168
    assert [s.name for s in chart.series] == ["evaluations", "custom_events", "other"]
    last = chart.groups[-1]
    assert [s.series for s in last.segments] == ["evaluations", "custom_events"]
    assert last.failing == 2
    assert chart.failing_hours == 1
    assert last.segments[0].y + last.segments[0].height == chart.plot_top + chart.plot_height
    assert chart.y_ticks[-1].label == "100"
    assert [t.label for t in chart.y_ticks] == ["0", "25", "50", "75", "100"]


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (7, [0, 2, 4, 6, 8]),
        (100, [0, 25, 50, 75, 100]),
        (3400, [0, 1000, 2000, 3000, 4000]),
        (3751, [0, 1000, 2000, 3000, 4000]),
        (4100, [0, 2000, 4000, 6000]),
        (9000, [0, 2500, 5000, 7500, 10000]),
    ],
)
def test_y_axis__sample_peaks__round_ticks_ending_at_the_first_tick_above(
    maximum: int, ticks: list[int]
) -> None:
    assert charts.y_axis(maximum) == ticks


@given(st.integers(min_value=0, max_value=10**12))
def test_y_axis__any_maximum__round_steps_and_the_axis_just_covers_the_data(maximum: int) -> None:
    ticks = charts.y_axis(maximum)
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))

    assert ticks[0] == 0
    assert all(b - a == step for a, b in itertools.pairwise(ticks))
    assert mantissa in (1, 2, 2.5, 5)
    assert 2 <= len(ticks) <= 5
    assert ticks[-1] >= maximum
    assert ticks[-2] < maximum or maximum == 0
    for tick in ticks:  # a label never shows a rounded value (1,250 is "1.25k", not "1.2k")
        label = charts.compact(tick)
        number = float(label.rstrip("kMB")) * {"k": 1e3, "M": 1e6, "B": 1e9}.get(label[-1], 1)
        assert number == tick


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=20), "just now"),
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(minutes=50), "50 minutes ago"),
        (timedelta(hours=3, minutes=40), "3 hours ago"),
        (timedelta(days=2), "2 days ago"),
        (-timedelta(minutes=3), "in 3 minutes"),
    ],
)
def test_relative_time__past_and_future__human_words(delta: timedelta, expected: str) -> None:
    assert format.relative(NOW - delta, NOW) == expected


@pytest.mark.parametrize(
    ("ms", "expected"), [(850, "850 ms"), (42_000, "42 s"), (1_500, "1.5 s"), (200_000, "3 min 20 s")]
)
def test_duration__milliseconds__human_units(ms: int, expected: str) -> None:
    assert format.duration(ms) == expected
