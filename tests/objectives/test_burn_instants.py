"""The burn conditions' exact start and end instants (objectives.burn), property-tested: the
solver's instant is where the condition changes, to the microsecond, and nothing changes
before it on a fine grid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pipepulse.objectives import burn
from pipepulse.objectives.spans import Span, normalise

T0 = datetime(2026, 3, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
GRID = timedelta(seconds=20)
FAST, SLOW = burn.BURN_CONDITIONS


def spans_of(pairs: list[tuple[int, int]]) -> list[Span]:
    return normalise((T0 + timedelta(seconds=a), T0 + timedelta(seconds=a + n)) for a, n in pairs)


histories = st.lists(st.tuples(st.integers(0, 8 * 3600), st.integers(1, 3600)), max_size=6)
maintenance = st.lists(st.tuples(st.integers(0, 8 * 3600), st.integers(1, 1800)), max_size=2)


@settings(max_examples=60, deadline=None)
@given(
    bad=histories,
    excluded=maintenance,
    since=st.integers(3600, 8 * 3600),
    length=st.integers(1, 3 * 3600),
    target=st.sampled_from([99.0, 99.5, 99.9, 95.0]),
    fast=st.booleans(),
)
def test_first_change__is_where_the_condition_changes_and_nothing_changes_before(
    bad: list[tuple[int, int]],
    excluded: list[tuple[int, int]],
    since: int,
    length: int,
    target: float,
    fast: bool,
) -> None:
    condition = FAST if fast else SLOW
    b, x = spans_of(bad), spans_of(excluded)
    start, end = T0 + timedelta(seconds=since), T0 + timedelta(seconds=since + length)
    was = burn.holds(condition, b, x, start, target)
    change = burn.ended_at(condition, b, x, start, end, target)
    last = end if change is None else change - US
    if change is not None:
        assert start < change <= end
        assert burn.holds(condition, b, x, change, target) != was
    assert burn.holds(condition, b, x, last, target) == was
    t = start
    while t < last:
        assert burn.holds(condition, b, x, t, target) == was, t
        t += GRID


@settings(max_examples=40, deadline=None)
@given(
    bad=histories, excluded=maintenance, since=st.integers(3600, 8 * 3600), length=st.integers(1, 3 * 3600)
)
def test_started_at__holds_from_then_to_now(
    bad: list[tuple[int, int]], excluded: list[tuple[int, int]], since: int, length: int
) -> None:
    b, x = spans_of(bad), spans_of(excluded)
    start, now = T0 + timedelta(seconds=since), T0 + timedelta(seconds=since + length)
    began = burn.started_at(FAST, b, x, start, now, 99.0)
    if began is None:
        assert not burn.holds(FAST, b, x, now, 99.0)
        return
    assert start <= began <= now
    assert burn.ended_at(FAST, b, x, began, now, 99.0) is None
    if began > start:
        assert not burn.holds(FAST, b, x, began - US, 99.0)


def test_fast_burn__hour_outage_at_99__fires_and_resolves_at_the_rule_s_instants() -> None:
    # 1h bad ≥ 14.4 % of an hour (8 min 38.4 s) and 5 min bad ≥ 43.2 s.
    outage = [(T0, T0 + timedelta(minutes=30))]
    fired = burn.started_at(FAST, outage, [], T0, T0 + timedelta(minutes=20), 99.0)
    assert fired == T0 + timedelta(minutes=8, seconds=38.4)
    # After the outage the 5-minute burn falls below 14.4 when less than 43.2 s of it is bad.
    resolved = burn.ended_at(FAST, outage, [], T0 + timedelta(minutes=20), T0 + timedelta(hours=2), 99.0)
    assert resolved == T0 + timedelta(minutes=34, seconds=16.8) + US
