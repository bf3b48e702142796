"""How pipepulse words numbers, counts and lengths of time for people: once, for the API's
reasons, the dashboard and the notifications alike.

Pure and dependency-free (the rules module imports it), so every reader words a number the
same way: ``19 h 24 min``, never ``69792 s``; ``1 batch``, ``2 batches``; ``1,234`` events.
"""

from __future__ import annotations

from datetime import timedelta


def number(value: int | float | None) -> str:
    """A count with thousands separators; a whole float reads as an integer."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}"
        return f"{value:,.1f}"
    return f"{value:,}"


def plural(count: int, singular: str, many: str | None = None) -> str:
    """'1 batch', '2 batches', '1,204 events'."""
    return f"{count:,} {singular if count == 1 else (many or singular + 's')}"


def span(value: timedelta | float | int | None) -> str:
    """A length of time people read at a glance: '45 s', '12 min', '19 h 24 min', '3 d 4 h'."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def describe_duration(window: timedelta) -> str:
    """A configured window in words: '15 minutes', '1 hour', '90 seconds'."""
    seconds = int(window.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            return plural(seconds // size, unit)
    return plural(seconds, "second")


def dlq_batches(batches_dlq: int) -> str:
    """'1 batch moved to the dead-letter queue', '3 batches moved …'."""
    return f"{plural(batches_dlq, 'batch', 'batches')} moved to the dead-letter queue"


def late(late_by_seconds: float | int, sla_seconds: float | int) -> str:
    """'late by 19 h 24 min (SLA 2 h)'."""
    return f"late by {span(late_by_seconds)} (SLA {span(sla_seconds)})"
