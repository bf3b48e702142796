"""Maintenance windows (SPEC §7.4) as pure rules: recurring silences on local wall-clock time.

A window is ``start`` ("HH:MM") on each of ``weekdays`` (Monday 0) in ``time_zone`` (an IANA
name), lasting ``duration_minutes`` of elapsed time. Daylight saving time is handled by the
zone, with two decisions for the hours a change makes odd:

- **Skipped hour** (spring forward): a start that does not exist that day (02:30 when clocks
  jump from 02:00 to 03:00) begins at the same distance past the jump, 03:30 — the reading of
  PEP 495 (``fold=0``), and what cron-like schedulers do.
- **Repeated hour** (fall back): a start that happens twice (01:30 when clocks go from 02:00
  back to 01:00) begins at its first occurrence.

The window then lasts its duration in real minutes, so a 60-minute window from the first 01:30
ends at the second 01:30. An occurrence belongs to the weekday on which it starts, and may run
past midnight. Pure: no I/O; the zone database comes from the ``tzdata`` package where the
system has none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipepulse.alerts import matchers as matchers_rules

HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
# A week at most: longer would overlap the next occurrence of the same weekday.
MAX_DURATION_MINUTES = 7 * 24 * 60


class InvalidWindow(ValueError):
    """A window that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Window:
    id: str
    matchers: Mapping[str, str]
    time_zone: str
    weekdays: Sequence[int]
    start: str
    duration_minutes: int


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidWindow(f"time_zone {name!r} is not an IANA time zone name, e.g. Europe/Berlin") from None


def start_time(text: str) -> time:
    match = HHMM.fullmatch(text)
    if match is None:
        raise InvalidWindow(f"start {text!r} must be a local time HH:MM, 00:00 to 23:59")
    return time(int(match.group(1)), int(match.group(2)))


def validate(time_zone: str, weekdays: Sequence[int], start: str, duration_minutes: int) -> None:
    zone(time_zone)
    start_time(start)
    if not weekdays or any(d not in range(7) for d in weekdays):
        raise InvalidWindow("weekdays must list days 0 to 6 (Monday 0), at least one")
    if not 1 <= duration_minutes <= MAX_DURATION_MINUTES:
        raise InvalidWindow(f"duration_minutes must be between 1 and {MAX_DURATION_MINUTES}")


def occurrence_start(day: date, start: time, tz: ZoneInfo) -> datetime:
    """The instant a window starting at ``start`` on local ``day`` begins (see the docstring)."""
    # fold=0 takes the first of a repeated time and reads a time in a gap with the offset from
    # before the jump, i.e. as far past the jump as it is written past the jump's start.
    return datetime.combine(day, start, tzinfo=tz).astimezone(UTC)


def occurrence_at(window: Any, now: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence of ``window`` that holds ``now``, as ``[start, end)`` in UTC; else None."""
    tz = zone(window.time_zone)
    at = start_time(window.start)
    length = timedelta(minutes=window.duration_minutes)
    today = now.astimezone(tz).date()
    # Occurrences that began up to the duration ago, plus two local days: one for a start late
    # in its day, one for the hour a spring-forward adds to the local clock (a 23:59 start
    # lasting 23 h 59 min ends at 00:58 two local days later).
    for back in range(length.days + 3):
        day = today - timedelta(days=back)
        if day.weekday() not in window.weekdays:
            continue
        begin = occurrence_start(day, at, tz)
        if begin <= now < begin + length:
            return begin, begin + length
    return None


def next_occurrence(window: Any, now: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence that holds ``now`` or the next one to begin, within the next 8 days."""
    current = occurrence_at(window, now)
    if current is not None:
        return current
    tz = zone(window.time_zone)
    at = start_time(window.start)
    today = now.astimezone(tz).date()
    for ahead in range(9):
        day = today + timedelta(days=ahead)
        if day.weekday() in window.weekdays:
            begin = occurrence_start(day, at, tz)
            if begin > now:
                return begin, begin + timedelta(minutes=window.duration_minutes)
    return None


def silencing(windows: Iterable[Any], labels: Mapping[str, str], now: datetime) -> list[str]:
    """Ids of the windows in an occurrence at ``now`` whose every matcher matches ``labels``."""
    return [
        w.id
        for w in windows
        if occurrence_at(w, now) is not None and matchers_rules.matches(dict(w.matchers), labels)
    ]


def next_boundary(windows: Iterable[Any], labels: Mapping[str, str], now: datetime) -> datetime | None:
    """The next instant after ``now`` at which a window matching ``labels`` begins or ends an
    occurrence (within the next 8 days; a pass looks again by then)."""
    ahead = []
    for w in windows:
        if not matchers_rules.matches(dict(w.matchers), labels):
            continue
        occurrence = next_occurrence(w, now)
        if occurrence is not None:
            begin, end = occurrence
            ahead.append(begin if begin > now else end)
    return min(ahead, default=None)
