"""Sets of instants as sorted, disjoint half-open spans ``[start, end)``: the arithmetic the
budget needs (union, difference, measure), exact to the microsecond. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

Span = tuple[datetime, datetime]
ZERO = timedelta(0)


def normalise(spans: Iterable[Span]) -> list[Span]:
    """Sorted, disjoint, non-empty spans; overlapping or touching ones merged."""
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[0] < s[1]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def subtract(spans: Iterable[Span], holes: Iterable[Span]) -> list[Span]:
    """The instants of ``spans`` that lie in none of ``holes``."""
    cuts = normalise(holes)
    out: list[Span] = []
    for start, end in normalise(spans):
        cursor = start
        for hole_start, hole_end in cuts:
            if hole_end <= cursor or hole_start >= end:
                continue
            if hole_start > cursor:
                out.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
            if cursor >= end:
                break
        if cursor < end:
            out.append((cursor, end))
    return out


def measure(spans: Iterable[Span], start: datetime, end: datetime) -> timedelta:
    """How much of ``[start, end)`` the (disjoint) ``spans`` cover."""
    total = ZERO
    for a, b in spans:
        overlap = min(b, end) - max(a, start)
        if overlap > ZERO:
            total += overlap
    return total
