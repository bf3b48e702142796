"""UTC-aligned buckets of the metrics API: Mondays, calendar months, clipped edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
