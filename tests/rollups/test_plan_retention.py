"""The range planner beyond retention (pure): snapped plans still tile their range, never
read raw runs older than the raw cutoff or hourly rollups older than theirs, and adjacent
ranges stay adjacent, so nothing is counted twice or lost between buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from pipepulse.rollups.plan import KEEP_ALL, Kept, Plan, kept, plan, rolling

BASE = datetime(2026, 1, 1, tzinfo=UTC)
instants = st.integers(min_value=0, max_value=60 * 24 * 3600 * 1000).map(
    lambda ms: BASE + timedelta(milliseconds=ms)
)
stores = st.tuples(st.integers(0, 50), st.integers(8, 50), st.integers(0, 24)).map(
    lambda t: Kept(
        raw_from=BASE + timedelta(days=t[0] + t[1], hours=t[2]),
        hours_from=BASE + timedelta(days=t[0]),
    )
)


def pieces(p: Plan) -> list[tuple[datetime, datetime]]:
    return sorted([*p.raw, *p.hours, *p.days])


@given(instants, instants, stores, st.booleans())
def test_plan__beyond_retention__tiles_the_snapped_range_from_what_is_kept(
    a: datetime, b: datetime, store: Kept, days: bool
) -> None:
    start, end = min(a, b), max(a, b) + timedelta(microseconds=1)
    p = plan(start, end, days=days, store=store)
    assert (p.start, p.end) == (store.snap(start, days=days), store.snap(end, days=days))
    parts = pieces(p)
    if p.start < p.end:
        assert parts[0][0] == p.start
        assert parts[-1][1] == p.end
        assert all(x[1] == y[0] for x, y in pairwise(parts))
    assert all(lo >= store.raw_from for lo, _ in p.raw)
    if days:
        assert all(lo >= store.hours_from for lo, _ in p.hours)
    assert (p.precision == "exact") == (start >= store.raw_from)
    if start >= store.raw_from:
        assert p == plan(start, end, days=days)  # inside retention nothing changes


@given(instants, instants, instants, stores)
def test_plan__adjacent_ranges_beyond_retention__stay_adjacent(
    a: datetime, b: datetime, c: datetime, store: Kept
) -> None:
    x, y, z = sorted([a, b, c])
    assert plan(x, y, store=store).end == plan(y, z, store=store).start


def test_kept__default_retention__cutoffs_rounded_up_to_hour_and_day() -> None:
    now = datetime(2026, 4, 20, 12, 34, 56, tzinfo=UTC)
    store = kept(now, timedelta(days=90), timedelta(days=400))
    assert store.raw_from == datetime(2026, 1, 20, 13, tzinfo=UTC)
    assert store.hours_from == datetime(2025, 3, 17, tzinfo=UTC)
    window = rolling(now, timedelta(days=120), days=True, store=store)
    assert (window.start, window.precision) == (datetime(2025, 12, 21, 12, tzinfo=UTC), "hour")
    assert rolling(now, timedelta(days=7), store=store) == rolling(now, timedelta(days=7), store=KEEP_ALL)
    assert window.raw == ((now.replace(minute=0, second=0, microsecond=0), now + timedelta(microseconds=1)),)
