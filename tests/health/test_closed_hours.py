"""What organisation health keeps of settled hours, as pure functions: sums over any stretch
equal the hour-by-hour sums, whether a day's total was kept by an earlier stretch or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pipepulse.health import closed_hours
from pipepulse.health.closed_hours import ClosedHours, Kept
from pipepulse.rollups.plan import Range

HOUR = timedelta(hours=1)
TYPES = ["webhook", "metadata_sync"]
FIRST = datetime(2026, 4, 1, tzinfo=UTC)
DAYS = 4
# An hour's sums: one of a few shapes (no type, one, both), drawn as a small number (fast).
SHAPES: list[tuple[closed_hours.TypeCounts, ...]] = [
    (),
    (("webhook", 3, 2, 1),),
    (("metadata_sync", 5, 5, 0),),
    (("webhook", 1, 0, 1), ("metadata_sync", 2, 1, 1)),
]
STRETCH = st.tuples(st.integers(0, 24 * (DAYS - 2)), st.integers(0, 24 * 2)).map(
    lambda s: (FIRST + s[0] * HOUR, FIRST + (s[0] + s[1]) * HOUR)
)
Hours = dict[datetime, tuple[closed_hours.TypeCounts, ...]]


def _by_hand(hours: Hours, wanted: Range) -> set[tuple[str, int, int, int]]:
    totals: dict[str, list[int]] = {}
    hour = wanted[0]
    while hour < wanted[1]:
        for name, *counts in hours[hour]:
            t = totals.setdefault(name, [0, 0, 0])
            for i, n in enumerate(counts):
                t[i] += n
        hour += HOUR
    return {(name, t[0], t[1], t[2]) for name, t in totals.items()}


@given(
    per_hour=st.lists(st.integers(0, len(SHAPES) - 1), min_size=24 * DAYS, max_size=24 * DAYS),
    stretches=st.lists(STRETCH, min_size=1, max_size=6),
)
def test_closed_hours__stretches_read_one_after_another__sums_of_every_hour(
    per_hour: list[int], stretches: list[Range]
) -> None:
    hours = {FIRST + i * HOUR: SHAPES[shape] for i, shape in enumerate(per_hour)}
    kept = Kept(version=1)
    for wanted in stretches:
        gaps = closed_hours.missing(kept, wanted)
        # Each gap is read once: hours in it, and only those, are not held yet.
        assert all(h not in kept.hours for a, b in gaps for h in (a, b - HOUR))
        closed_hours.fill(
            kept, gaps, [(h, c) for a, b in gaps for h in hours if a <= h < b for c in hours[h]]
        )
        assert closed_hours.missing(kept, wanted) == []
        assert set(closed_hours.sums(kept, wanted)) == _by_hand(hours, wanted)


def test_closed_hours__newer_version__what_was_kept_dropped_and_older_readers_keep_nothing() -> None:
    store = ClosedHours(organisations=2)
    kept = store.kept(1, version=3)
    closed_hours.fill(kept, [(FIRST, FIRST + HOUR)], [(FIRST, ("webhook", 1, 1, 0))])

    assert store.kept(1, version=3).hours == {FIRST: (("webhook", 1, 1, 0),)}
    assert store.kept(1, version=4).hours == {}
    closed_hours.fill(store.kept(1, version=3), [(FIRST, FIRST + HOUR)], [])  # read before the write
    assert store.kept(1, version=4).hours == {}
    # The least recently read organisation goes first.
    store.kept(2, version=0)
    store.kept(3, version=0)
    closed_hours.fill(store.kept(2, version=0), [(FIRST, FIRST + HOUR)], [])
    store.kept(4, version=0)
    assert store.kept(2, version=0).hours == {FIRST: ()}
    assert store.kept(1, version=4).hours == {}


@given(
    runs=st.lists(
        st.tuples(st.sampled_from(["webhook", "metadata_sync"]), st.integers(0, 3599), st.booleans())
    ),
    start=st.integers(0, 3600),
    earlier=st.lists(st.integers(1, 30), max_size=6),
)
def test_closed_hours__runs_of_a_first_hour__counted_from_any_instant_in_it(
    runs: list[tuple[str, int, bool]], start: int, earlier: list[int]
) -> None:
    kept = Kept(version=0)
    # Other first hours kept before it (a window read over different days) never crowd it out.
    for hours_before in earlier:
        closed_hours.keep_runs(kept, FIRST - hours_before * HOUR, [])
    closed_hours.keep_runs(kept, FIRST, [(t, FIRST + timedelta(seconds=s), ok) for t, s, ok in runs])
    at = FIRST + timedelta(seconds=start)

    counted = closed_hours.counts_from(kept, FIRST, at)

    expected: dict[str, list[int]] = {}
    for t, s, ok in runs:
        e = expected.setdefault(t, [0, 0, 0])
        if FIRST + timedelta(seconds=s) >= at:
            e[0] += 1
            e[1 if ok else 2] += 1
    assert counted is not None
    assert sorted(counted) == sorted((t, *e) for t, e in expected.items())
    assert closed_hours.counts_from(kept, FIRST + HOUR, at) is None
