"""A brute-force reading of SPEC §7.6, written from the spec text and independent of src/.

It walks every second of the window and asks, at the middle of that second, whether the
connection was in ``error`` (the §3 status, from tests/history/oracle.py), whether it was late
(§7.2), and whether a maintenance window held; then counts. All of a generated history's
instants are whole seconds, so the middle of a second stands for the whole second, and an
open or closed end of a stretch (which is only an instant) makes no difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from tests.history import oracle as status_oracle
from tests.history.oracle import Run

HALF = timedelta(milliseconds=500)
LOOKBACKS = {"1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600, "72h": 72 * 3600}


@dataclass(frozen=True)
class DailyWindow:
    """A maintenance window every day at ``start_minute`` UTC for ``minutes``, if it applies."""

    start_minute: int
    minutes: int
    applies: bool

    def holds(self, epoch_seconds: float) -> bool:
        return self.applies and (epoch_seconds - 60 * self.start_minute) % 86400 < 60 * self.minutes


def late_at(runs: list[Run], created_at: datetime, sla: timedelta, state: str, t: datetime) -> bool:
    if state not in ("connected", "error"):
        return False
    delivered = [
        r.completed_at
        for r in runs
        if r.completed_at is not None and r.events_delivered > 0 and r.completed_at <= t
    ]
    anchor = max(delivered) if delivered else created_at
    return t - anchor > sla


@dataclass
class Counts:
    bad: int = 0
    counted: int = 0


def count(
    runs: list[Run],
    indicator: str,
    created_at: datetime,
    sla: timedelta,
    state: str,
    window: DailyWindow | None,
    now: datetime,
    window_days: int,
) -> dict[str, Counts]:
    """Bad and counted seconds over the whole window and each look-back ending ``now``."""
    total = window_days * 86400
    out = {name: Counts() for name in ("window", *LOOKBACKS)}
    # Before the first run finished and before the connection existed, neither the status
    # (idle, SPEC §7.6) nor lateness can be bad: skip asking there.
    quiet_until = min([status_oracle.finished_at(r) for r in runs] + [created_at])
    epoch_now = now.timestamp()
    for back in range(total, 0, -1):
        start = now - timedelta(seconds=back)
        middle = start + HALF
        if window is not None and window.holds(epoch_now - back + 0.5):
            continue
        if middle < quiet_until:
            bad = False
        elif indicator == "availability":
            bad = status_oracle.status_at(runs, middle) == "error"
        else:
            bad = late_at(runs, created_at, sla, state, middle)
        out["window"].counted += 1
        out["window"].bad += bad
        for name, seconds in LOOKBACKS.items():
            if back <= seconds:
                out[name].counted += 1
                out[name].bad += bad
    return out


def allowed(target: float) -> Fraction:
    return (100 - Fraction(str(target))) / 100


def burn(c: Counts, target: float) -> float:
    return float((Fraction(c.bad, c.counted) if c.counted else Fraction(0)) / allowed(target))
