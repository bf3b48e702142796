"""The one range planner: whole rollup hours (and days) plus raw edges, covering a range exactly.

The properties are checked against a plain reading of the docstrings: every part is
non-empty, no two parts overlap, together they are the range, rollup parts sit on whole
hours (days), and raw edges are only as long as they must be.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipepulse.rollups import plan as planner

T0 = datetime(2026, 4, 20, tzinfo=UTC)
H = timedelta(hours=1)
US = timedelta(microseconds=1)

# Instants that cluster on hour and day boundaries, a microsecond either side, and anywhere.
_offsets = st.one_of(
    st.integers(-3, 3).flatmap(lambda h: st.sampled_from([-1, 0, 1]).map(lambda us: h * 24 * H + us * US)),
    st.integers(-80, 80).flatmap(lambda h: st.sampled_from([-1, 0, 1]).map(lambda us: h * H + us * US)),
    st.integers(-5 * 24 * 3600 * 10**6, 5 * 24 * 3600 * 10**6).map(lambda us: us * US),
)
instants = _offsets.map(lambda d: T0 + d)


def _is_hour(t: datetime) -> bool:
    return t == t.replace(minute=0, second=0, microsecond=0)


def _is_day(t: datetime) -> bool:
    return t == t.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil_hour(t: datetime) -> datetime:
    return t if _is_hour(t) else t.replace(minute=0, second=0, microsecond=0) + H


def _holds_a_whole_hour(a: datetime, b: datetime) -> bool:
    return _ceil_hour(a) + H <= b


def _assert_exact_cover(parts: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> None:
    """Non-empty parts that tile [start, end) with no gap and no overlap."""
    parts = sorted(parts)
    assert all(a < b for a, b in parts), parts
    if start >= end:
        assert parts == []
        return
    assert parts[0][0] == start
    assert parts[-1][1] == end
    for (_, b), (c, _) in itertools.pairwise(parts):
        assert b == c, parts


@given(start=instants, end=instants, days=st.booleans())
def test_plan__any_range__parts_cover_it_exactly_without_overlap(
    start: datetime, end: datetime, days: bool
) -> None:
    p = planner.plan(start, end, days=days)
    assert (p.start, p.end) == (start, end)
    _assert_exact_cover([*p.raw, *p.hours, *p.days], start, end)
    assert all(_is_hour(a) and _is_hour(b) for a, b in p.hours)
    assert all(_is_day(a) and _is_day(b) for a, b in p.days)
    if not days:
        assert p.days == ()
        assert len(p.hours) <= 1
    # Raw edges are partial hours: never a whole hour that the rollups could have answered.
    assert len(p.raw) <= 2
    assert not any(_holds_a_whole_hour(a, b) for a, b in p.raw)
    if not p.hours and not p.days:
        assert p.raw == (((start, end),) if start < end else ())


@given(start=instants, end=instants)
def test_plan__with_days__days_only_where_whole_days_fit_and_hours_beside_them(
    start: datetime, end: datetime
) -> None:
    p = planner.plan(start, end, days=True)
    whole_day_inside = any(
        _is_day(d) and start <= d and d + timedelta(days=1) <= end
        for d in (
            start.replace(hour=0, minute=0, second=0, microsecond=0) + k * timedelta(days=1)
            for k in range(12)
        )
    )
    assert bool(p.days) is whole_day_inside
    if p.days:
        # Hours before the first whole day and after the last, each shorter than a day.
        assert all(b - a < timedelta(days=1) for a, b in p.hours)
        assert not any(_is_day(a) and a + timedelta(days=1) <= b for a, b in p.hours)


@given(now=instants, span_hours=st.integers(1, 24 * 8), days=st.booleans())
def test_rolling__any_now__covers_the_window_lower_bound_excluded_upper_included(
    now: datetime, span_hours: int, days: bool
) -> None:
    span = span_hours * H
    p = planner.rolling(now, span, days=days)
    _assert_exact_cover([*p.raw, *p.hours, *p.days], now - span + US, now + US)
    inside = [*p.raw, *p.hours, *p.days]
    assert not any(a <= now - span < b for a, b in inside)  # now - span is outside
    assert any(a <= now - span + US < b for a, b in inside)


@given(
    start=instants,
    cuts=st.lists(st.integers(1, 6 * 3600 * 10**6), min_size=1, max_size=8),
)
def test_split__adjacent_buckets__whole_hours_and_merged_raw_cover_each_bucket(
    start: datetime, cuts: list[int]
) -> None:
    bounds = [start]
    for us in cuts:
        bounds.append(bounds[-1] + us * US)
    ranges = list(itertools.pairwise(bounds))
    s = planner.split(ranges)
    assert len(s.whole_hours) == len(ranges)
    # The merged raw list never overlaps and never has two touching intervals.
    for (_, b), (c, _) in itertools.pairwise(s.raw):
        assert b < c
    for (a, b), whole in zip(ranges, s.whole_hours, strict=True):
        raw_here = [(max(a, x), min(b, y)) for x, y in s.raw if x < b and a < y]
        _assert_exact_cover([*raw_here, *([whole] if whole else [])], a, b)
        assert whole == planner.plan(a, b).whole_hours


def _t(hour: int, minute: int = 0, second: int = 0, us: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 4, day, hour, minute, second, us, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "floor", "ceil"),
    [
        (_t(9), _t(9), _t(9)),
        (_t(9, us=1), _t(9), _t(10)),
        (_t(23, 59, 59), _t(23), _t(0, day=21)),
    ],
)
def test_floor_and_ceil_hour__instants__the_hour_at_or_before_and_at_or_after(
    value: datetime, floor: datetime, ceil: datetime
) -> None:
    assert planner.floor_hour(value) == floor
    assert planner.ceil_hour(value) == ceil


def test_floor_and_ceil_day__instants__midnight_at_or_before_and_at_or_after() -> None:
    midnight = datetime(2026, 4, 20, tzinfo=UTC)
    assert planner.floor_day(midnight) == planner.ceil_day(midnight) == midnight
    late = datetime(2026, 4, 20, 0, 0, 0, 1, tzinfo=UTC)
    assert (planner.floor_day(late), planner.ceil_day(late)) == (midnight, datetime(2026, 4, 21, tzinfo=UTC))
    evening = datetime(2026, 4, 20, 17, 45, 30, 12, tzinfo=UTC)
    assert (planner.floor_day(evening), planner.ceil_day(evening)) == (
        midnight,
        datetime(2026, 4, 21, tzinfo=UTC),
    )


def test_hours__a_range__each_hour_start_stepping_from_the_start() -> None:
    start = datetime(2026, 4, 20, 9, tzinfo=UTC)
    assert list(planner.hours(start, start + 3 * H)) == [start, start + H, start + 2 * H]
    assert list(planner.hours(start, start)) == []
    assert list(planner.hours(start, start + US)) == [start]


def test_plan__range_inside_one_hour__one_raw_part_no_rollups() -> None:
    a, b = datetime(2026, 4, 20, 9, 10, tzinfo=UTC), datetime(2026, 4, 20, 9, 50, tzinfo=UTC)
    p = planner.plan(a, b)
    assert (p.raw, p.hours, p.days, p.whole_hours) == (((a, b),), (), (), None)
    assert p.in_raw(a)
    assert not p.in_raw(b)


def test_plan__over_three_days__raw_edges_hours_and_whole_days() -> None:
    a = datetime(2026, 4, 18, 21, 30, tzinfo=UTC)
    b = datetime(2026, 4, 21, 2, 15, tzinfo=UTC)
    p = planner.plan(a, b, days=True)
    assert p.raw == ((a, datetime(2026, 4, 18, 22, tzinfo=UTC)), (datetime(2026, 4, 21, 2, tzinfo=UTC), b))
    assert p.hours == (
        (datetime(2026, 4, 18, 22, tzinfo=UTC), datetime(2026, 4, 19, tzinfo=UTC)),
        (datetime(2026, 4, 21, tzinfo=UTC), datetime(2026, 4, 21, 2, tzinfo=UTC)),
    )
    assert p.days == ((datetime(2026, 4, 19, tzinfo=UTC), datetime(2026, 4, 21, tzinfo=UTC)),)
    without_days = planner.plan(a, b)
    assert without_days.hours == (
        (datetime(2026, 4, 18, 22, tzinfo=UTC), datetime(2026, 4, 21, 2, tzinfo=UTC)),
    )
    assert without_days.whole_hours == without_days.hours[0]


def test_rolling__a_week_with_and_without_days__whole_days_only_when_asked() -> None:
    now = datetime(2026, 4, 20, 12, tzinfo=UTC)
    assert planner.rolling(now, timedelta(days=7)).days == ()
    assert planner.rolling(now, timedelta(days=7), days=False).days == ()
    with_days = planner.rolling(now, timedelta(days=7), days=True)
    assert with_days.days == ((datetime(2026, 4, 14, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC)),)


def test_rolling__24h_at_noon__whole_hours_between_raw_edges_of_one_microsecond() -> None:
    now = datetime(2026, 4, 20, 12, tzinfo=UTC)
    p = planner.rolling(now, timedelta(hours=24))
    assert p.raw == ((now - timedelta(hours=24) + US, now - timedelta(hours=23)), (now, now + US))
    assert p.hours == ((now - timedelta(hours=23), now),)


# --- beyond retention (what the store keeps) ------------------------------------------------

STORE = planner.kept(datetime(2026, 4, 20, 12, 34, tzinfo=UTC), timedelta(days=90), timedelta(days=400))
RAW_FROM, HOURS_FROM = datetime(2026, 1, 20, 13, tzinfo=UTC), datetime(2025, 3, 17, tzinfo=UTC)


def test_precision__start_against_what_is_kept__exact_hour_or_day() -> None:
    assert (STORE.raw_from, STORE.hours_from) == (RAW_FROM, HOURS_FROM)
    assert planner.precision(RAW_FROM, STORE) == planner.precision(RAW_FROM, STORE, days=True) == "exact"
    assert planner.precision(RAW_FROM - US, STORE, days=True) == "hour"
    assert planner.precision(HOURS_FROM, STORE, days=True) == "hour"  # the hourly rollups still hold it
    assert planner.precision(HOURS_FROM - US, STORE, days=True) == "day"
    assert planner.precision(HOURS_FROM - US, STORE) == "hour"  # without days, hours are all there is


def test_snap__edges_beyond_retention__hour_or_day_start_only_when_days_allowed() -> None:
    old = HOURS_FROM - timedelta(days=3, minutes=20)
    assert STORE.snap(old) == old.replace(minute=0)
    assert STORE.snap(old, days=True) == old.replace(hour=0, minute=0)
    assert STORE.snap(RAW_FROM - timedelta(minutes=1)) == RAW_FROM - H
    assert STORE.snap(RAW_FROM + timedelta(minutes=1)) == RAW_FROM + timedelta(minutes=1)


def test_plan__starting_beyond_the_hourly_rollups__day_precision_when_days_allowed() -> None:
    start, end = HOURS_FROM - timedelta(days=2, hours=5), HOURS_FROM + timedelta(days=1)
    with_days = planner.plan(start, end, days=True, store=STORE)
    assert (with_days.start, with_days.precision) == (HOURS_FROM - timedelta(days=3), "day")
    assert planner.plan(start, end, store=STORE).precision == "hour"
    assert planner.plan(RAW_FROM, RAW_FROM + H, store=STORE).precision == "exact"


def test_split__buckets_beyond_raw_retention__edges_snapped_so_rollups_answer_them() -> None:
    old = RAW_FROM - timedelta(days=1, minutes=30)
    s = planner.split([(old, old + 2 * H)], STORE)
    assert s.raw == []
    assert s.whole_hours == [(old - timedelta(minutes=30), old + timedelta(hours=1, minutes=30))]
    assert planner.split([(old, old + 2 * H)]).raw != []  # everything kept: the edges are read raw


@given(
    start=instants,
    cuts=st.lists(st.integers(1, 6 * 3600 * 10**6), min_size=1, max_size=8),
    raw_from=instants,
)
def test_split__any_buckets_and_retention__each_cut_as_plan_cuts_it_and_raw_merged_in_order(
    start: datetime, cuts: list[int], raw_from: datetime
) -> None:
    """split cuts in one pass what plan cuts range by range: the same whole hours, and the
    same raw intervals, touching ones merged, in order."""
    store = planner.Kept(raw_from=planner.ceil_hour(raw_from), hours_from=datetime.min.replace(tzinfo=UTC))
    bounds = [start]
    for us in cuts:
        bounds.append(bounds[-1] + us * US)
    ranges = list(itertools.pairwise(bounds))
    s = planner.split(ranges, store)
    plans = [planner.plan(a, b, store=store) for a, b in ranges]
    assert s.whole_hours == [p.whole_hours for p in plans]
    merged: list[tuple[datetime, datetime]] = []
    for a, b in itertools.chain.from_iterable(p.raw for p in plans):
        if merged and merged[-1][1] == a:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    assert s.raw == merged
