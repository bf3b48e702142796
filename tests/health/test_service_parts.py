"""How organisation health cuts its window before reading it, as pure functions: every part
read from the right place, and together the whole window exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from pipepulse.health.service import edges, split_whole
from pipepulse.rollups.plan import HOUR, TICK, Kept, Range, ceil_day, floor_hour, kept, rolling

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


def _covered(parts: list[Range]) -> list[Range]:
    """The parts merged where they touch, after checking that none overlaps another."""
    out: list[Range] = []
    for a, b in sorted(parts):
        assert a < b, (a, b)
        if out:
            assert out[-1][1] <= a, (out[-1], (a, b))
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


WINDOWS = st.tuples(
    st.integers(0, 3 * 24 * 3600 * 10**6),  # microseconds after NOW
    st.integers(1, 40),  # days
    st.integers(1, 30),  # raw retention, days
    st.integers(0, 20),  # hourly retention beyond it, days
    st.integers(-60, 60),  # the database's clock, hours from now
)


@given(WINDOWS)
# The database's clock so far behind that nothing is settled after the hourly rollups begin:
# its settled hours end exactly where they begin, or before it — nothing kept either way.
@example((0, 1, 1, 0, -10))
@example((0, 1, 1, 0, -60))
def test_split_whole__any_window_and_clock__days_hours_and_kept_tile_the_whole_hours(
    drawn: tuple[int, int, int, int, int],
) -> None:
    micros, days, raw_days, more_days, clock_hours = drawn
    now = NOW + timedelta(microseconds=micros)
    store = kept(now, timedelta(days=raw_days), timedelta(days=raw_days + more_days))
    plan = rolling(now, timedelta(days=days), days=True, store=store)
    settled_before = floor_hour(now + timedelta(hours=clock_hours)) - 2 * HOUR

    whole = split_whole(plan, store.hours_from, settled_before)

    parts = [*whole.days, *whole.hours, *([whole.kept] if whole.kept else [])]
    assert _covered(parts) == _covered([*plan.days, *plan.hours])
    for a, b in whole.days:  # whole days, and only where the hourly rollups are gone
        assert (a, b) == (ceil_day(a), ceil_day(b))
        assert b <= store.hours_from
    for a, _ in whole.hours:  # hourly rollups, and none of them settled
        assert a >= max(store.hours_from, settled_before)
    if whole.kept is not None:  # settled hours that the hourly rollups hold
        assert store.hours_from <= whole.kept[0] < whole.kept[1] <= settled_before


@given(WINDOWS)
def test_edges__any_window__raw_edges_and_the_last_hour_tile_the_plans_raw_edges(
    drawn: tuple[int, int, int, int, int],
) -> None:
    micros, days, raw_days, more_days, _ = drawn
    now = NOW + timedelta(microseconds=micros)
    store = kept(now, timedelta(days=raw_days), timedelta(days=raw_days + more_days))
    plan = rolling(now, timedelta(days=days), days=True, store=store)

    raw, hour_edge = edges(plan, store)

    assert _covered([*raw, *([hour_edge] if hour_edge else [])]) == _covered(list(plan.raw))
    if hour_edge is not None:  # the window's end, from an hour's start inside raw retention
        a, b = hour_edge
        assert (b, a) == (plan.end, floor_hour(a))
        assert a >= store.raw_from
        assert b - a <= HOUR


def test_edges__last_hour_at_the_start_of_raw_retention__from_its_rollup_row() -> None:
    # Raw runs kept from exactly the hour the window's last partial hour starts at.
    store = Kept(raw_from=floor_hour(NOW), hours_from=floor_hour(NOW) - 24 * HOUR)
    plan = rolling(NOW + 30 * timedelta(minutes=1), timedelta(hours=2), store=store)

    assert edges(plan, store) == ((), (floor_hour(NOW), NOW + 30 * timedelta(minutes=1) + TICK))
    one_hour_later = Kept(raw_from=floor_hour(NOW) + HOUR, hours_from=store.hours_from)
    assert edges(plan, one_hour_later)[1] is None
