"""An objective's error budget and burn rates (SPEC §7.6) from its bad and excluded time.

Everything is computed in exact fractions of microseconds and turned into floats only at the
end: a 99 % target over 7 days allows exactly 6,048 seconds, not 6,048.000000000005.
Time inside a maintenance window (``excluded``) is left out of both the numerator and the
denominator. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from pipepulse.objectives.spans import Span, measure, subtract

HOUR = timedelta(hours=1)
# The look-backs the status read reports (SPEC §7.6), by name.
LOOKBACKS: dict[str, timedelta] = {"1h": HOUR, "6h": 6 * HOUR, "24h": 24 * HOUR, "72h": 72 * HOUR}
# The burn rate exhaustion is projected at.
PROJECTION = "24h"


def allowed_fraction(target_percent: float) -> Fraction:
    """The fraction of time the target allows to be bad (99.5 → 1/200), read as written."""
    return (100 - Fraction(str(target_percent))) / 100


def _us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def _seconds(us: Fraction | int) -> float:
    return float(Fraction(us) / 1_000_000)


@dataclass(frozen=True)
class Reading:
    """Bad and counted time over one stretch, in microseconds."""

    bad: int
    counted: int  # the stretch minus maintenance

    def bad_fraction(self) -> Fraction:
        return Fraction(self.bad, self.counted) if self.counted else Fraction(0)


def read(bad: Sequence[Span], excluded: Sequence[Span], start: datetime, end: datetime) -> Reading:
    """Bad and counted time in ``[start, end)``, maintenance left out of both."""
    return Reading(
        bad=_us(measure(subtract(bad, excluded), start, end)),
        counted=_us(end - start - measure(excluded, start, end)),
    )


def burn_rate(
    bad: Sequence[Span], excluded: Sequence[Span], now: datetime, lookback: timedelta, target_percent: float
) -> Fraction:
    """Bad-time fraction of the look-back ending now ÷ the allowed fraction (0 with nothing counted)."""
    return read(bad, excluded, now - lookback, now).bad_fraction() / allowed_fraction(target_percent)


@dataclass(frozen=True)
class Budget:
    sli_percent: float
    target_percent: float
    budget_seconds: float
    budget_spent_seconds: float
    budget_remaining_percent: float
    burn_rates: dict[str, float]
    exhausted_at: datetime | None
    window_start: datetime
    as_of: datetime


def budget(
    bad: Sequence[Span], excluded: Sequence[Span], now: datetime, window: timedelta, target_percent: float
) -> Budget:
    """The objective's status over the window ending ``now``.

    ``exhausted_at`` projects the remaining budget at the last 24 hours' burn rate (a straight
    line, as the SRE workbook reads it): ``now`` when nothing is left, null when nothing burns.
    """
    start = now - window
    allowed = allowed_fraction(target_percent)
    whole = read(bad, excluded, start, now)
    budget_us = whole.counted * allowed
    remaining_us = budget_us - whole.bad
    sli = 100 * (1 - whole.bad_fraction()) if whole.counted else Fraction(100)
    remaining_percent = 100 * remaining_us / budget_us if budget_us else Fraction(100)
    rates = {name: burn_rate(bad, excluded, now, back, target_percent) for name, back in LOOKBACKS.items()}
    exhausted_at: datetime | None = None
    if remaining_us <= 0 and budget_us:
        exhausted_at = now
    elif rates[PROJECTION] > 0:
        # Bad time accrues at the 24h bad fraction of each second that passes.
        seconds_left = remaining_us / (rates[PROJECTION] * allowed) / 1_000_000
        try:
            exhausted_at = now + timedelta(seconds=int(seconds_left))
        except OverflowError:  # so slow it would outlast the calendar
            exhausted_at = None
    return Budget(
        sli_percent=float(sli),
        target_percent=target_percent,
        budget_seconds=_seconds(budget_us),
        budget_spent_seconds=_seconds(whole.bad),
        budget_remaining_percent=float(remaining_percent),
        burn_rates={name: float(rate) for name, rate in rates.items()},
        exhausted_at=exhausted_at,
        window_start=start,
        as_of=now,
    )
