"""The multi-window, multi-burn-rate conditions of SPEC §7.6 (the Google SRE workbook's rule).

A condition holds at ``now`` when the burn rate over its long look-back AND over its short one
both reach its threshold: the long window says enough budget is burning to matter, the short one
that it is still burning (so the alert resolves soon after the burning stops). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from itertools import pairwise

from pipepulse.objectives.budget import allowed_fraction, burn_rate, read
from pipepulse.objectives.spans import Span, subtract


@dataclass(frozen=True)
class BurnCondition:
    name: str
    long: timedelta
    short: timedelta
    threshold: Fraction  # exact: 14.4 is 72/5, so a burn of exactly 14.4 reaches it
    severity: str  # for the Prometheus alert: fast burn pages, slow burn is a ticket

    @property
    def threshold_text(self) -> str:
        return f"{float(self.threshold):g}"


BURN_CONDITIONS: tuple[BurnCondition, ...] = (
    # 2 % of a 30-day budget in one hour.
    BurnCondition("budget_burn_fast", timedelta(hours=1), timedelta(minutes=5), Fraction("14.4"), "critical"),
    # 5 % of a 30-day budget in six hours.
    BurnCondition("budget_burn_slow", timedelta(hours=6), timedelta(minutes=30), Fraction(6), "warning"),
)
CONDITION_NAMES: tuple[str, ...] = tuple(c.name for c in BURN_CONDITIONS)


def holds(
    condition: BurnCondition,
    bad: Sequence[Span],
    excluded: Sequence[Span],
    now: datetime,
    target_percent: float,
) -> bool:
    """Whether ``condition`` holds at ``now`` for the objective's bad and excluded time."""
    return all(
        burn_rate(bad, excluded, now, lookback, target_percent) >= condition.threshold
        for lookback in (condition.long, condition.short)
    )


def holding(bad: Sequence[Span], excluded: Sequence[Span], now: datetime, target_percent: float) -> list[str]:
    """The names of the burn conditions that hold at ``now``."""
    return [c.name for c in BURN_CONDITIONS if holds(c, bad, excluded, now, target_percent)]


# --- The exact instants a condition starts and stops holding -------------------------------
#
# Over a look-back L ending at t, bad(t) (bad time outside maintenance in [t - L, t)) and
# counted(t) (L minus maintenance) change linearly between the instants where t or t - L meets
# a span edge. The burn rate reaches θ exactly where bad(t) - θ·allowed·counted(t) ≥ 0 (with
# something counted), a linear inequality on each piece, so each crossing is solved exactly
# and rounded up to the microsecond at which the condition first holds (or first fails).

MICROSECOND = timedelta(microseconds=1)


def _breakpoints(
    condition: BurnCondition, bad: Sequence[Span], excluded: Sequence[Span], lo: datetime, hi: datetime
) -> list[datetime]:
    edges = {e for span in (*subtract(bad, excluded), *excluded) for e in span}
    points = {lo, hi}
    for lookback in (condition.long, condition.short):
        points.update(e + lookback for e in edges)
        points.update(edges)
    return sorted(p for p in points if lo <= p <= hi)


def _margins(
    condition: BurnCondition,
    bad: Sequence[Span],
    excluded: Sequence[Span],
    at: datetime,
    target_percent: float,
) -> list[tuple[Fraction, int]]:
    """Per look-back: bad - θ·allowed·counted (µs; ≥ 0 where the burn reaches θ), and counted."""
    allowed = allowed_fraction(target_percent)
    out = []
    for lookback in (condition.long, condition.short):
        reading = read(bad, excluded, at - lookback, at)
        out.append((reading.bad - condition.threshold * allowed * reading.counted, reading.counted))
    return out


def _holding_interval(
    condition: BurnCondition,
    bad: Sequence[Span],
    excluded: Sequence[Span],
    p: datetime,
    q: datetime,
    target_percent: float,
) -> tuple[Fraction, Fraction] | None:
    """Where on the piece ``[p, q]`` the condition holds, as offsets in microseconds from ``p``
    (a closed interval; None when nowhere). Each margin is linear on the piece, so each is
    non-negative on one sub-interval; counted time is linear too, so positive on all of the
    piece but possibly one end."""
    span_us = Fraction((q - p) // MICROSECOND)
    lo, hi = Fraction(0), span_us
    ends = zip(
        _margins(condition, bad, excluded, p, target_percent),
        _margins(condition, bad, excluded, q, target_percent),
        strict=True,
    )
    for (mp, cp), (mq, cq) in ends:
        if cp == 0 and cq == 0:
            return None
        if mp < 0 and mq < 0:
            return None
        if mp < 0 <= mq:
            lo = max(lo, -mp * span_us / (mq - mp))
        elif mq < 0 <= mp:
            hi = min(hi, mp * span_us / (mp - mq))
    return (lo, hi) if lo <= hi else None


def _ceil(x: Fraction) -> int:
    return -(-x.numerator // x.denominator)


def _first_change(
    condition: BurnCondition,
    bad: Sequence[Span],
    excluded: Sequence[Span],
    start: datetime,
    end: datetime,
    target_percent: float,
) -> datetime | None:
    """The first instant of ``(start, end]`` at which ``holds`` differs from its value at
    ``start`` (None when it never does), to the microsecond."""
    clean = subtract(bad, excluded)
    was = holds(condition, clean, excluded, start, target_percent)
    points = _breakpoints(condition, clean, excluded, start, end)
    for p, q in pairwise(points):
        interval = _holding_interval(condition, clean, excluded, p, q, target_percent)
        if was:
            # Holding at p: it fails just after the interval's end (or at q's far side).
            if interval is None:
                candidate: int | None = 1
            elif interval[1] < (q - p) // MICROSECOND:
                candidate = interval[1].numerator // interval[1].denominator + 1
            else:
                candidate = None
        elif interval is not None and _ceil(interval[0]) <= interval[1]:
            candidate = max(_ceil(interval[0]), 1)
        else:
            candidate = None
        if candidate is None:
            continue
        t = p + candidate * MICROSECOND
        # The ends of a piece (where counted time may touch zero) are checked directly.
        if t <= q and holds(condition, clean, excluded, t, target_percent) != was:
            return t
    return None


def started_at(
    condition: BurnCondition,
    bad: Sequence[Span],
    excluded: Sequence[Span],
    since: datetime,
    now: datetime,
    target_percent: float,
) -> datetime | None:
    """When the condition, holding at ``now``, last started to hold after ``since`` (``since``
    itself if it held throughout): None if it does not hold at ``now``."""
    if not holds(condition, bad, excluded, now, target_percent):
        return None
    start = since
    while True:
        change = _first_change(condition, bad, excluded, start, now, target_percent)
        if change is None:
            return start
        start = change


def ended_at(
    condition: BurnCondition,
    bad: Sequence[Span],
    excluded: Sequence[Span],
    since: datetime,
    now: datetime,
    target_percent: float,
) -> datetime | None:
    """The first instant after ``since`` (when it held) that the condition stopped holding, up
    to ``now``: None if it held throughout."""
    return _first_change(condition, bad, excluded, since, now, target_percent)
