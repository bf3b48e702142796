"""Geometry for the server-rendered SVG charts: pure functions of numbers, no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

HOUR = timedelta(hours=1)

# Distinguishable for common colour-vision deficiencies; 'other' is always neutral grey.
SERIES_COLOURS = ("#2563eb", "#0d9488", "#d97706", "#9333ea", "#db2777", "#0891b2")
OTHER_COLOUR = "#94a3b8"


def hours_back(last_hour: datetime, count: int) -> list[datetime]:
    """``count`` consecutive hour starts ending with ``last_hour``, oldest first."""
    return [last_hour - HOUR * (count - 1 - i) for i in range(count)]


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2, 2.5 or 5 times 10^k at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    magnitude: float = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate: float = step * magnitude
        if candidate >= value:
            return math.ceil(candidate)
    raise AssertionError("unreachable")


def compact(value: float) -> str:
    """1234 → '1.2k', 2500000 → '2.5M' (axis labels)."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            text = f"{value / limit:.1f}".removesuffix(".0")
            return text + suffix
    return f"{value:g}"


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    line: str  # polyline points
    area: str  # closed path
    maximum: int
    total: int
    label: str


def sparkline(values: Sequence[int], *, width: int = 120, height: int = 32) -> Sparkline:
    top = max(values, default=0)
    scale = (height - 3) / top if top else 0.0
    step = width / max(len(values) - 1, 1)
    points = [(round(i * step, 1), round(height - 1.5 - v * scale, 1)) for i, v in enumerate(values)]
    line = " ".join(f"{x},{y}" for x, y in points)
    area = f"M0,{height} " + " ".join(f"L{x},{y}" for x, y in points) + f" L{width},{height} Z"
    total = sum(values)
    label = (
        f"{total:,} events in the last {len(values)} hours; busiest hour {top:,}"
        if total
        else f"no events in the last {len(values)} hours"
    )
    return Sparkline(width=width, height=height, line=line, area=area, maximum=top, total=total, label=label)


@dataclass(frozen=True)
class Segment:
    series: str
    value: int
    y: float
    height: float
    colour: str


@dataclass(frozen=True)
class BarGroup:
    hour: datetime
    x: float
    total: int
    failing: int
    segments: list[Segment]


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    total: int


@dataclass(frozen=True)
class StackedBars:
    width: int
    height: int
    plot_left: int
    plot_top: int
    plot_width: int
    plot_height: int
    bar_width: float
    groups: list[BarGroup]
    series: list[Series]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    failing_hours: int


def series_order(configured: Sequence[str], seen: Sequence[str]) -> list[str]:
    """The connection's event types in their configured order, then others, then 'other'."""
    names = list(configured)
    names += sorted(s for s in seen if s not in names and s != "other")
    if "other" in seen and "other" not in names:
        names.append("other")
    return names


def hour_tick(hour: datetime, hours: int) -> str | None:
    """The x-axis label at ``hour``, if it gets one: every 3 hours over a day, every midnight
    over a week, every Monday over a month."""
    if hours <= 48:
        if hour.hour % 3:
            return None
        return hour.strftime("%a %d %b") if hour.hour == 0 else hour.strftime("%H:00")
    if hour.hour != 0:
        return None
    if hours > 24 * 10:
        return hour.strftime("%d %b") if hour.weekday() == 0 else None
    return hour.strftime("%a %d %b")


def stacked_bars(
    hours: Sequence[datetime],
    by_type: Mapping[datetime, Mapping[str, int]],
    failing: Mapping[datetime, int],
    configured_types: Sequence[str],
    *,
    pitch: float = 5.0,
    plot_height: int = 180,
) -> StackedBars:
    left, top, right, bottom = 52, 12, 10, 40
    shown = [by_type.get(hour, {}) for hour in hours]
    seen = sorted({t for counts in shown for t, v in counts.items() if v})
    names = series_order(configured_types, seen)
    colours = {
        name: OTHER_COLOUR if name == "other" else SERIES_COLOURS[i % len(SERIES_COLOURS)]
        for i, name in enumerate(names)
    }
    totals = {hour: sum(by_type.get(hour, {}).values()) for hour in hours}
    y_max = nice_ceiling(max(totals.values(), default=0))
    scale = plot_height / y_max
    bar_width = round(pitch * 0.72, 2)

    groups = []
    for i, hour in enumerate(hours):
        counts = by_type.get(hour, {})
        base = float(top + plot_height)
        segments = []
        for name in names:
            value = counts.get(name, 0)
            if not value:
                continue
            h = value * scale
            base -= h
            segments.append(Segment(name, value, round(base, 2), round(h, 2), colours[name]))
        groups.append(
            BarGroup(
                hour=hour,
                x=round(left + i * pitch + (pitch - bar_width) / 2, 2),
                total=totals[hour],
                failing=failing.get(hour, 0),
                segments=segments,
            )
        )

    y_ticks = [
        Tick(position=round(top + plot_height - plot_height * f, 2), label=compact(y_max * f))
        for f in (0, 0.25, 0.5, 0.75, 1)
    ]
    x_ticks = [
        Tick(position=round(left + i * pitch, 2), label=label)
        for i, hour in enumerate(hours)
        if (label := hour_tick(hour, len(hours))) is not None
    ]
    series = [
        Series(name=name, colour=colours[name], total=sum(c.get(name, 0) for c in shown)) for name in names
    ]
    return StackedBars(
        width=int(left + len(hours) * pitch + right),
        height=top + plot_height + bottom,
        plot_left=left,
        plot_top=top,
        plot_width=int(len(hours) * pitch),
        plot_height=plot_height,
        bar_width=bar_width,
        groups=groups,
        series=series,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        failing_hours=sum(1 for g in groups if g.failing),
    )


# The plot width of the hourly chart and the status band, whatever the period: a day's bars
# are wide, a month's thin, and the band lines up with the bars above it.
PLOT_WIDTH = 840


@dataclass(frozen=True)
class BandSegment:
    """One timeline interval drawn on the status band."""

    status: str
    start: datetime
    end: datetime
    x: float
    width: float


@dataclass(frozen=True)
class StatusBand:
    width: int
    height: int
    plot_left: int
    plot_width: int
    segments: list[BandSegment]


def status_band(
    intervals: Sequence[Any], start: datetime, end: datetime, *, left: int, height: int = 22
) -> StatusBand:
    """The status timeline over ``[start, end)`` as coloured segments on :data:`PLOT_WIDTH`.

    A segment too short to see keeps at least half a pixel, so a brief incident stays
    visible (and keeps its hover text); the text list beside the band is exact.
    """
    span = (end - start).total_seconds()
    segments = []
    for interval in intervals:
        x = (interval.start - start).total_seconds() / span * PLOT_WIDTH
        width = (interval.end - interval.start).total_seconds() / span * PLOT_WIDTH
        segments.append(
            BandSegment(
                interval.status, interval.start, interval.end, round(left + x, 2), round(max(width, 0.5), 2)
            )
        )
    return StatusBand(
        width=left + PLOT_WIDTH + 10, height=height, plot_left=left, plot_width=PLOT_WIDTH, segments=segments
    )
