"""What organisation health keeps of settled hours, as pure functions: sums over any stretch
equal the hour-by-hour sums, whether a day's total was kept by an earlier stretch or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import groupby

from hypothesis import given
from hypothesis import strategies as st

from pipepulse.health import closed_hours
from pipepulse.health.closed_hours import ClosedHours, Kept
from pipepulse.rollups.plan import Range

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
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


def _not_held(kept: Kept, wanted: Range) -> list[Range]:
    """The hours of ``wanted`` that ``kept`` does not hold, as maximal stretches in order."""
    hours = int((wanted[1] - wanted[0]) / HOUR)
    absent = [i for i in range(hours) if wanted[0] + i * HOUR not in kept.hours]
    # Consecutive hours share their offset minus their place among the absent ones.
    runs = [[i for _, i in g] for _, g in groupby(enumerate(absent), lambda p: p[1] - p[0])]
    return [(wanted[0] + r[0] * HOUR, wanted[0] + (r[-1] + 1) * HOUR) for r in runs]


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
        # Each hour not held yet is read once, and only those: in stretches as long as they go.
        assert gaps == _not_held(kept, wanted)
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
    older = store.kept(1, version=3)  # read before the write
    assert (older.version, older.hours) == (3, {})
    closed_hours.fill(older, [(FIRST, FIRST + HOUR)], [])
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


def test_closed_hours__more_organisations_than_it_keeps__the_one_read_longest_ago_dropped() -> None:
    store = ClosedHours(organisations=2)
    for organisation in (1, 2):
        closed_hours.fill(store.kept(organisation, version=0), [(FIRST, FIRST + HOUR)], [])
    store.kept(1, version=0)  # read again: 2 is now the one read longest ago
    store.kept(3, version=0)

    assert store.kept(1, version=0).hours == {FIRST: ()}
    assert store.kept(2, version=0).hours == {}


def test_closed_hours__a_days_first_hours_then_two_days__each_hour_read_once_whole_days_summed_once() -> None:
    hours = {FIRST + i * HOUR: SHAPES[i % len(SHAPES)] for i in range(24 * DAYS)}
    kept = Kept(version=1)

    def read(wanted: Range) -> list[Range]:
        gaps = closed_hours.missing(kept, wanted)
        closed_hours.fill(
            kept, gaps, [(h, c) for a, b in gaps for h in hours if a <= h < b for c in hours[h]]
        )
        assert set(closed_hours.sums(kept, wanted)) == _by_hand(hours, wanted)
        return gaps

    assert read((FIRST + 2 * HOUR, FIRST + 4 * HOUR)) == [(FIRST + 2 * HOUR, FIRST + 4 * HOUR)]
    assert read((FIRST, FIRST + 6 * HOUR)) == [
        (FIRST, FIRST + 2 * HOUR),
        (FIRST + 4 * HOUR, FIRST + 6 * HOUR),
    ]
    assert set(kept.hours) == {FIRST + i * HOUR for i in range(6)}
    assert kept.days == {}
    # The first day's hours from 03:00 on, and the whole second day: its total is kept.
    assert read((FIRST + 3 * HOUR, FIRST + 2 * DAY)) == [(FIRST + 6 * HOUR, FIRST + 2 * DAY)]
    assert set(kept.hours) == {FIRST + i * HOUR for i in range(48)}
    assert set(kept.days) == {FIRST + DAY}
    assert read((FIRST, FIRST + 2 * DAY)) == []
    assert set(kept.days) == {FIRST, FIRST + DAY}

    # A whole day is read from its total, not its hours again (a month adds up 30 totals, not
    # 720 hours): without the second day's hours, the two days still sum the same …
    for i in range(24, 48):
        del kept.hours[FIRST + i * HOUR]
    assert closed_hours.missing(kept, (FIRST, FIRST + 2 * DAY)) == []
    assert set(closed_hours.sums(kept, (FIRST, FIRST + 2 * DAY))) == _by_hand(hours, (FIRST, FIRST + 2 * DAY))
    # … and only a part of that day needs its hours.
    part = (FIRST + DAY, FIRST + DAY + 5 * HOUR)
    assert closed_hours.missing(kept, part) == [part]


def test_closed_hours__runs_of_more_first_hours_than_it_keeps__the_one_kept_first_dropped() -> None:
    kept = Kept(version=0)
    firsts = [FIRST + i * HOUR for i in range(closed_hours.EDGE_HOURS + 1)]
    for hour in firsts:
        closed_hours.keep_runs(kept, hour, [("webhook", hour, True)])

    assert closed_hours.counts_from(kept, firsts[0], firsts[0]) is None
    for hour in firsts[1:]:
        assert closed_hours.counts_from(kept, hour, hour) == [("webhook", 1, 1, 0)]
