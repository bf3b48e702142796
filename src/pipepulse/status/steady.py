"""When has a status certainly held? Judged from hourly counts alone, without reading runs.

A healthy or a flaky pipeline keeps its status for weeks; finding since when by reading every
run of those weeks would cost as much as the history. Hourly counts (finished runs, failing
runs, events) can prove a stretch steady for the two statuses that last: if no window in it
can have lacked what the status needs, §3 gave that status at every instant of it. The proof
is conservative: when the counts cannot tell, the caller reads the runs.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from pipepulse.rollups.plan import HOUR
from pipepulse.rules import DAY, Status

# A window (t - 24h, t] always holds at least 23 whole UTC hours.
WHOLE_HOURS = 23


class Counts(Protocol):
    @property
    def runs(self) -> int: ...

    @property
    def failing(self) -> int: ...

    @property
    def events(self) -> int: ...


def steady_since(
    status: Status, hours: Mapping[datetime, Counts], until: datetime, error_status_runs: int
) -> datetime | None:
    """The earliest instant ``C`` from which ``status`` certainly held at every instant of
    ``[C, until)``, judged from the hourly ``hours`` (runs finished before ``until``, an hour
    start; a missing hour had no finished run); None when not even one whole hour is certain.

    - ``active`` at ``t``: no failing run in the window and events in it. Certain when no hour
      of the stretch had a failing run and no 23 consecutive hours lacked a delivery.
    - ``degraded`` at ``t``: a failing run in the window, and the latest ``k`` runs not all
      failing. Certain when no 23 consecutive hours lacked a failing run or held fewer than
      ``k`` runs, and no ``k`` failing runs can have followed one another: no hour with runs
      was all failing, and no two consecutive hours with runs held ``k`` failing runs together
      (``k`` failures in a row would fill the hours between their first and last).

    The stretch ``[A, until)`` of hours meeting that gives the status at every ``t`` whose
    window lies inside it: ``C = A + 24h``.
    """
    if status not in ("active", "degraded") or not hours:
        return None
    k = error_status_runs
    first = min(hours)
    empty_counts = _Empty()
    recent: list[Counts] = []  # the hours after ``hour``, newest last, at most WHOLE_HOURS
    later_failing: int | None = None  # failing runs of the next hour with runs
    start = until
    hour = until - HOUR
    while hour >= first - DAY:
        counts = hours.get(hour, empty_counts)
        recent.insert(0, counts)
        del recent[WHOLE_HOURS:]
        if status == "active":
            ok = counts.failing == 0 and not (
                len(recent) == WHOLE_HOURS and all(c.events == 0 for c in recent)
            )
        else:
            ok = not (counts.runs and counts.failing >= counts.runs)
            if ok and counts.runs:
                ok = later_failing is None or counts.failing + later_failing < k
                later_failing = counts.failing
            if ok and len(recent) == WHOLE_HOURS:
                ok = any(c.failing for c in recent) and sum(c.runs for c in recent) >= k
        if not ok:
            break
        start = hour
        hour -= HOUR
    steady = start + DAY
    return steady if steady < until else None


class _Empty:
    runs = 0
    failing = 0
    events = 0
