"""UTC-aligned buckets of the metrics API: Mondays, calendar months, clipped edges."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipepulse.metrics import buckets
from pipepulse.rollups import plan as planner


def test_buckets__one_week__start_on_monday() -> None:
    thursday = datetime(2026, 4, 16, 15, 30, tzinfo=UTC)
    out = buckets.buckets(thursday, thursday + timedelta(days=10), "week", 1)
    assert [b.label for b in out] == [datetime(2026, 4, 13, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC)]
    assert out[0].start == thursday  # clipped to the range, labelled by the aligned slot
    assert all(b.label.weekday() == 0 for b in out)


def test_buckets__month__calendar_months_of_different_lengths() -> None:
    out = buckets.buckets(datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC), "month", 1)
    assert [b.label.month for b in out] == [1, 2, 3, 4]
    assert out[1].end - out[1].start == timedelta(days=28)
    assert out[2].end - out[2].start == timedelta(days=31)


def test_buckets__three_months__calendar_quarters() -> None:
    out = buckets.buckets(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC), "month", 3)
    assert [b.label for b in out] == [datetime(2026, m, 1, tzinfo=UTC) for m in (1, 4, 7)]


def test_buckets__split__whole_hours_from_rollups_edges_raw() -> None:
    start = datetime(2026, 4, 20, 9, 20, tzinfo=UTC)
    out = buckets.buckets(start, datetime(2026, 4, 20, 12, 10, tzinfo=UTC), "hour", 2)
    plan = planner.split([(b.start, b.end) for b in out])
    assert [b.label.hour for b in out] == [8, 10, 12]
    assert plan.whole_hours == [None, (out[1].start, out[1].end), None]
    assert plan.raw == [(start, out[1].start), (out[2].start, out[2].end)]


def _t(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("t", "unit", "interval", "slot"),
    [
        (_t(2026, 4, 20, 9, 37, 12), "minute", 1, _t(2026, 4, 20, 9, 37)),
        (_t(2026, 4, 20, 9, 37, 12), "minute", 15, _t(2026, 4, 20, 9, 30)),
        (_t(2026, 4, 20, 9, 37, 12), "minute", 7, _t(2026, 4, 20, 9, 35)),  # epoch-aligned 7-minute slots
        (_t(2026, 4, 20, 9, 37), "hour", 1, _t(2026, 4, 20, 9)),
        (_t(2026, 4, 20, 9, 37), "hour", 2, _t(2026, 4, 20, 8)),  # even hours
        (_t(2026, 4, 20, 23, 59), "day", 1, _t(2026, 4, 20)),
        (_t(2026, 4, 19, 23, 59), "week", 1, _t(2026, 4, 13)),  # Sunday → the Monday before
        (_t(2026, 4, 20), "week", 1, _t(2026, 4, 20)),  # a Monday is its own slot
        (_t(2026, 4, 20), "week", 2, _t(2026, 4, 13)),  # alternate Mondays from 1970-01-05
        (_t(1970, 1, 5), "week", 2, _t(1970, 1, 5)),
        (_t(2026, 4, 20, 5), "month", 1, _t(2026, 4)),
        (_t(2026, 12, 31, 23), "month", 1, _t(2026, 12)),
        (_t(2026, 5, 31), "month", 3, _t(2026, 4)),  # quarters
        (_t(2026, 12, 31), "month", 12, _t(2026)),  # years
        (_t(2026, 3, 1), "month", 5, _t(2025, 11)),  # 5-month slots counted from January 1970
        (_t(2026, 3, 1), "month", 7, _t(2026, 1)),
        (_t(1969, 12, 31), "month", 7, _t(1969, 6)),  # before the epoch too
    ],
)
def test_slot_start__instant__start_of_its_epoch_aligned_slot(
    t: datetime, unit: buckets.TimeUnit, interval: int, slot: datetime
) -> None:
    assert buckets.slot_start(t, unit, interval) == slot


@pytest.mark.parametrize(
    ("label", "unit", "interval", "following"),
    [
        (_t(2026, 4, 20, 9), "minute", 30, _t(2026, 4, 20, 9, 30)),
        (_t(2026, 4, 20, 9), "hour", 5, _t(2026, 4, 20, 14)),
        (_t(2026, 4, 20), "day", 1, _t(2026, 4, 21)),
        (_t(2026, 4, 20), "week", 2, _t(2026, 5, 4)),
        (_t(2026, 12), "month", 1, _t(2027, 1)),  # over the year end
        (_t(2026, 11), "month", 3, _t(2027, 2)),
        (_t(2026, 1), "month", 12, _t(2027, 1)),
    ],
)
def test_next_slot__label__the_following_slot(
    label: datetime, unit: buckets.TimeUnit, interval: int, following: datetime
) -> None:
    assert buckets.next_slot(label, unit, interval) == following


def test_buckets__range_on_slot_edges__no_empty_bucket_at_the_end() -> None:
    out = buckets.buckets(_t(2026, 4, 20, 9), _t(2026, 4, 20, 12), "hour", 1)
    assert [(b.label, b.start, b.end) for b in out] == [
        (_t(2026, 4, 20, 9), _t(2026, 4, 20, 9), _t(2026, 4, 20, 10)),
        (_t(2026, 4, 20, 10), _t(2026, 4, 20, 10), _t(2026, 4, 20, 11)),
        (_t(2026, 4, 20, 11), _t(2026, 4, 20, 11), _t(2026, 4, 20, 12)),
    ]
    assert buckets.count(_t(2026, 4, 20, 9), _t(2026, 4, 20, 12), "hour", 1) == 3


def test_buckets__one_microsecond_into_a_slot__that_slot_counts() -> None:
    end = _t(2026, 4, 20, 12) + timedelta(microseconds=1)
    out = buckets.buckets(_t(2026, 4, 20, 11), end, "hour", 1)
    assert [b.label for b in out] == [_t(2026, 4, 20, 11), _t(2026, 4, 20, 12)]
    assert out[-1].end == end
    assert buckets.count(_t(2026, 4, 20, 11), end, "hour", 1) == 2


def test_count__empty_or_reversed_range__zero() -> None:
    assert buckets.count(_t(2026, 4, 20), _t(2026, 4, 20), "hour", 1) == 0
    assert buckets.count(_t(2026, 4, 20, 10, 30), _t(2026, 4, 20, 10, 30), "hour", 1) == 0
    assert buckets.count(_t(2026, 4, 20, 10, 30), _t(2026, 4, 20, 10, 30), "month", 1) == 0
    assert buckets.count(_t(2026, 4, 21), _t(2026, 4, 20), "day", 1) == 0
    assert buckets.buckets(_t(2026, 4, 20), _t(2026, 4, 20), "day", 1) == []


def test_buckets__more_than_the_limit__too_many_buckets_saying_what_to_change() -> None:
    start = _t(2026, 4, 1)
    assert buckets.count(start, start + timedelta(minutes=buckets.MAX_BUCKETS), "minute", 1) == 10_000
    assert len(buckets.buckets(start, start + timedelta(minutes=10_000), "minute", 1)) == 10_000
    with pytest.raises(buckets.TooManyBuckets) as caught:
        buckets.buckets(start, start + timedelta(minutes=10_001), "minute", 1)
    message = str(caught.value)
    assert "make 10001 buckets" in message
    assert "at most 10000 are allowed" in message
    assert "shorten the range or widen the interval" in message


_units = st.sampled_from([("minute", 7), ("minute", 60), ("hour", 1), ("hour", 5), ("day", 1), ("day", 3),
                          ("week", 1), ("week", 2), ("month", 1), ("month", 3), ("month", 12)])  # fmt: skip
_instants = st.integers(0, 3 * 365 * 24 * 3600).map(lambda s: _t(2025) + timedelta(seconds=s))


@given(start=_instants, span_s=st.integers(1, 40 * 24 * 3600), grain=_units)
def test_buckets__any_range__aligned_slots_that_tile_it_and_match_count(
    start: datetime, span_s: int, grain: tuple[buckets.TimeUnit, int]
) -> None:
    unit, interval = grain
    end = start + timedelta(seconds=span_s)
    out = buckets.buckets(start, end, unit, interval)
    assert len(out) == buckets.count(start, end, unit, interval)
    assert out[0].start == start
    assert out[-1].end == end
    for bucket, following in itertools.pairwise(out):
        assert bucket.end == following.start == following.label
    for i, bucket in enumerate(out):
        assert bucket.label <= bucket.start < bucket.end
        assert buckets.slot_start(bucket.start, unit, interval) == bucket.label
        assert buckets.locate(out, bucket.start) == i
        assert buckets.locate(out, bucket.end - timedelta(microseconds=1)) == i
        if unit == "week":
            assert bucket.label.weekday() == 0
            assert bucket.label.time() == datetime.min.time()
        if unit == "month":
            assert (bucket.label.day, bucket.label.hour, (bucket.label.month - 1) % interval) == (1, 0, 0)
    assert buckets.locate(out, end) is None
    assert buckets.locate(out, start - timedelta(microseconds=1)) is None


def test_count__months__a_whole_number() -> None:
    n = buckets.count(_t(2026, 1, 15), _t(2026, 8, 2), "month", 3)
    assert (n, type(n)) == (3, int)


def test_locate__empty_list__none() -> None:
    assert buckets.locate([], _t(2026)) is None
