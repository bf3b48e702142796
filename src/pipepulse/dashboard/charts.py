"""Geometry for the server-rendered SVG charts: pure functions of numbers, no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

HOUR = timedelta(hours=1)

# Distinguishable for common colour-vision deficiencies; 'other' is always neutral grey.
# Each at least 3:1 against the white plot (WCAG non-text contrast).
SERIES_COLOURS = ("#2563eb", "#0d9488", "#b45309", "#9333ea", "#db2777", "#0891b2")
OTHER_COLOUR = "#78859a"


def hours_back(last_hour: datetime, count: int) -> list[datetime]:
    """``count`` consecutive hour starts ending with ``last_hour``, oldest first."""
    return [last_hour - HOUR * (count - 1 - i) for i in range(count)]


def nice_step(value: float) -> int:
    """The smallest round step (1, 2, 2.5 or 5 times 10^k) at or above ``value``.

    Counts are whole, so a step is at least 1 and 2.5 is used from 25 up: tick labels then
    read 0, 250, 500, 750, never 1.2k for 1,250.
    """
    if value <= 1:
        return 1
    exponent = math.floor(math.log10(value))
    for k in (exponent, exponent + 1):
        for factor in (1, 2, 2.5, 5):
            if factor == 2.5 and k < 1:
                continue
            step = factor * 10**k
            if step >= value:
                return int(step)
    raise AssertionError("unreachable")


def y_axis(maximum: int, *, intervals: int = 4) -> list[int]:
    """Tick values from 0 in round steps, at most ``intervals`` of them, the last one the
    first tick at or above ``maximum`` (so the tallest bar nearly fills the plot)."""
    if maximum <= 0:
        return [0, 1]
    step = nice_step(maximum / intervals)
    count = math.ceil(maximum / step)
    return [i * step for i in range(count + 1)]


def compact(value: float) -> str:
    """1234 → '1.23k', 1250 → '1.25k', 2500000 → '2.5M' (axis labels; never rounded to a
    value that is not the tick's)."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            text = f"{value / limit:.2f}".rstrip("0").rstrip(".")
            return text + suffix
    return f"{value:g}"


# About how wide an 11 px axis label is per character (system sans-serif, tabular digits),
# erring wide: a label that might not fit inside the plot is drawn anchored to its edge.
LABEL_CHAR_WIDTH = 6.6


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    line: str  # polyline points of the complete hours
    partial: str  # the segment to the current hour, still in progress ("" when none)
    area: str  # closed path
    maximum: int
    total: int
    label: str


def sparkline(
    values: Sequence[int], *, width: int = 120, height: int = 32, last_partial: bool = False
) -> Sparkline:
    """A line of hourly values; with ``last_partial`` the last hour is still in progress and
    its segment is drawn apart (dashed), so a low count so far does not read as a drop."""
    top = max(values, default=0)
    scale = (height - 3) / top if top else 0.0
    step = width / max(len(values) - 1, 1)
    points = [(round(i * step, 1), round(height - 1.5 - v * scale, 1)) for i, v in enumerate(values)]
    whole = points[:-1] if last_partial and len(points) > 1 else points
    line = " ".join(f"{x},{y}" for x, y in whole)
    partial = " ".join(f"{x},{y}" for x, y in points[-2:]) if last_partial and len(points) > 1 else ""
    area = f"M0,{height} " + " ".join(f"L{x},{y}" for x, y in points) + f" L{width},{height} Z"
    total = sum(values)
    label = (
        f"{total:,} events in the last {len(values)} hours; busiest hour {top:,}"
        if total
        else f"no events in the last {len(values)} hours"
    )
    if last_partial:
        label += "; the last hour is still in progress"
    return Sparkline(
        width=width,
        height=height,
        line=line,
        partial=partial,
        area=area,
        maximum=top,
        total=total,
        label=label,
    )


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
    values: dict[str, int]  # events by series, zeroes included (the chart's table)
    partial: bool  # the current hour, still in progress


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "start"  # the SVG text-anchor of the label
    label_x: float = 0.0  # where the label is drawn


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
    pitch: float
    partial: BarGroup | None  # the current hour, when the chart reaches it
    partial_minutes: int  # minutes of the current hour gone so far


def x_ticks(hours: Sequence[datetime], left: float, pitch: float) -> list[Tick]:
    """Labels under the hours that get one, each kept whole inside the plot: a label that
    would run past the right edge is anchored to it instead (it never overlaps the previous
    one, which starts at least a label's width earlier)."""
    right = left + len(hours) * pitch
    ticks = []
    for i, hour in enumerate(hours):
        label = hour_tick(hour, len(hours))
        if label is None:
            continue
        position = round(left + i * pitch, 2)
        width = len(label) * LABEL_CHAR_WIDTH
        if position + 3 + width <= right:
            ticks.append(Tick(position, label, "start", round(position + 3, 2)))
        else:
            ticks.append(Tick(position, label, "end", round(right, 2)))
    return ticks


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
    now: datetime | None = None,
) -> StackedBars:
    """Bars of events per hour, stacked by type. With ``now`` the hour that contains it is
    marked as still in progress."""
    left, top, right, bottom = 52, 12, 10, 40
    shown = [by_type.get(hour, {}) for hour in hours]
    seen = sorted({t for counts in shown for t, v in counts.items() if v})
    names = series_order(configured_types, seen)
    colours = {
        name: OTHER_COLOUR if name == "other" else SERIES_COLOURS[i % len(SERIES_COLOURS)]
        for i, name in enumerate(names)
    }
    totals = {hour: sum(by_type.get(hour, {}).values()) for hour in hours}
    ticks = y_axis(max(totals.values(), default=0))
    y_max = ticks[-1]
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
                values={name: counts.get(name, 0) for name in names},
                partial=now is not None and hour <= now < hour + HOUR,
            )
        )

    y_ticks = [
        Tick(position=round(top + plot_height - plot_height * value / y_max, 2), label=compact(value))
        for value in ticks
    ]
    series = [
        Series(name=name, colour=colours[name], total=sum(c.get(name, 0) for c in shown)) for name in names
    ]
    partial = next((g for g in groups if g.partial), None)
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
        x_ticks=x_ticks(hours, left, pitch),
        failing_hours=sum(1 for g in groups if g.failing),
        pitch=pitch,
        partial=partial,
        partial_minutes=int((now - partial.hour).total_seconds() // 60) if partial and now else 0,
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
