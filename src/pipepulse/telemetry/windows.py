"""Splitting an exact rolling window into whole rollup hours and raw-run edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pipepulse.telemetry.rollups import HOUR, floor_hour


@dataclass(frozen=True)
class WindowPlan:
    """A window ``(start, end]`` as three parts that never overlap.

    Raw runs in ``(start, hours_from)``, whole rollup hours ``[hours_from, hours_to)``, raw
    runs in ``[hours_to, end]``.

    When the window holds no whole hour, ``hours_from == hours_to`` and the raw edges
    cover everything.
    """

    start: datetime  # exclusive
    end: datetime  # inclusive
    hours_from: datetime
    hours_to: datetime

    @property
    def has_hours(self) -> bool:
        return self.hours_from < self.hours_to

    def in_left_edge(self, t: datetime) -> bool:
        return self.start < t < self.hours_from

    def in_right_edge(self, t: datetime) -> bool:
        return self.start < t and self.hours_to <= t <= self.end

    def in_raw_edges(self, t: datetime) -> bool:
        return self.in_left_edge(t) or self.in_right_edge(t)


def plan(now: datetime, span: timedelta) -> WindowPlan:
    start = now - span
    first_whole = floor_hour(start) + HOUR  # the first hour that starts strictly after `start`
    last_end = floor_hour(now)  # hours ending at or before now
    if first_whole >= last_end:
        return WindowPlan(start=start, end=now, hours_from=last_end, hours_to=last_end)
    return WindowPlan(start=start, end=now, hours_from=first_whole, hours_to=last_end)
