"""Span arithmetic (objectives.spans) against sets of whole minutes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pipepulse.objectives.spans import measure, normalise, subtract

T0 = datetime(2026, 4, 20, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
raw_spans = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=6)


def to_spans(pairs: list[tuple[int, int]]) -> list[tuple[datetime, datetime]]:
    return [(T0 + a * MINUTE, T0 + b * MINUTE) for a, b in pairs]


def minutes(pairs: list[tuple[int, int]]) -> set[int]:
    return {m for a, b in pairs for m in range(a, b)}


@given(spans=raw_spans, holes=raw_spans, lo=st.integers(0, 60), hi=st.integers(0, 60))
def test_spans__random_sets__same_minutes_as_set_arithmetic(
    spans: list[tuple[int, int]], holes: list[tuple[int, int]], lo: int, hi: int
) -> None:
    merged = normalise(to_spans(spans))
    assert all(a < b < c for (a, b), (c, _) in itertools.pairwise(merged))
    left = subtract(to_spans(spans), to_spans(holes))
    expected = minutes(spans) - minutes(holes)
    assert measure(left, T0, T0 + 60 * MINUTE) == len(expected) * MINUTE
    window = {m for m in expected if lo <= m < hi}
    assert measure(left, T0 + lo * MINUTE, T0 + hi * MINUTE) == len(window) * MINUTE
