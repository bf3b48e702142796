"""SPEC §7.2 verdicts as pure functions: is a connection late, and is its volume usual?

No I/O and no clock: the health service (and alert evaluation) hands in the connection's
settings, its last delivery, the hourly volumes and ``now``. Imports only :mod:`pipepulse.rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Literal

# Lifecycle states in which the scheduler runs the loader: only then can a connection be late.
SCHEDULED_STATES = frozenset({"connected", "error"})
MIN_SLA_SECONDS = 60
BASELINE_DAYS = 7
BASELINE_MIN_HOURS = 5
MAD_SCALE = 1.4826  # makes the MAD estimate a standard deviation for normal data
BAND_MADS = 4
BAND_FRACTION = 0.25
BAND_FLOOR = 10

VolumeVerdict = Literal["normal", "drop", "spike"]
Baseline = Literal["ok", "insufficient"]


def freshness_sla(
    freshness_sla_seconds: int | None, schedule_interval_seconds: int, orphan_window: timedelta
) -> timedelta:
    """The connection's own SLA, or two schedule intervals plus the orphan window."""
    if freshness_sla_seconds is not None:
        return timedelta(seconds=freshness_sla_seconds)
    return 2 * timedelta(seconds=schedule_interval_seconds) + orphan_window


@dataclass(frozen=True)
class Freshness:
    sla: timedelta
    last_delivery_at: datetime | None
    late: bool
    late_by: timedelta  # zero when not late


def freshness(
    *,
    state: str,
    sla: timedelta,
    last_delivery_at: datetime | None,
    created_at: datetime,
    now: datetime,
) -> Freshness:
    """Late: scheduled (``connected`` or ``error``) and the time since the last delivery (or
    since creation, if it never delivered) exceeds the SLA."""
    since = last_delivery_at if last_delivery_at is not None else created_at
    overdue = (now - since) - sla
    late = state in SCHEDULED_STATES and overdue > timedelta(0)
    return Freshness(sla, last_delivery_at, late, overdue if late else timedelta(0))


@dataclass(frozen=True)
class Volume:
    """The latest complete hour against the same hour on the previous days."""

    hour: datetime
    actual: int
    baseline: Baseline
    baseline_hours: int  # how many of the previous days' hours had a finished run
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    verdict: VolumeVerdict | None = None


def baseline_hours(hour: datetime) -> list[datetime]:
    """The same UTC hour on each of the previous :data:`BASELINE_DAYS` days, newest first."""
    return [hour - timedelta(days=d) for d in range(1, BASELINE_DAYS + 1)]


def volume(hour: datetime, actual: int, baseline: Sequence[int]) -> Volume:
    """Judge ``actual`` against ``baseline``: the events of each baseline hour that had a
    finished run (hours without one are left out, not counted as zero).

    ``expected`` is their median; the band is ``expected ± max(4 * 1.4826 * MAD,
    0.25 * expected, 10)``, its lower edge never below zero. Fewer than 5 hours: no verdict.
    """
    if len(baseline) < BASELINE_MIN_HOURS:
        return Volume(hour, actual, "insufficient", len(baseline))
    expected = float(median(baseline))
    mad = float(median(abs(x - expected) for x in baseline))
    half = max(BAND_MADS * MAD_SCALE * mad, BAND_FRACTION * expected, BAND_FLOOR)
    lower, upper = max(0.0, expected - half), expected + half
    verdict: VolumeVerdict = "drop" if actual < lower else "spike" if actual > upper else "normal"
    return Volume(
        hour, actual, "ok", len(baseline), round(expected, 2), round(lower, 2), round(upper, 2), verdict
    )
