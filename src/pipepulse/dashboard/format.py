"""Jinja filters: how numbers, instants, durations and statuses read on the dashboard, and the
order statuses are listed in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from pipepulse import wording
from pipepulse.rules import STATUSES, Status, severity
from pipepulse.schemas import format_timestamp
from pipepulse.status.reasons import ago


def exact(value: datetime | None) -> str:
    """The instant in UTC, to the second (shown on hover and in tables)."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


UTC_FORMATS = {
    "datetime": "%Y-%m-%d %H:%M:%S UTC",
    "minute": "%Y-%m-%d %H:%M UTC",
    "time": "%H:%M:%S UTC",
}


def utc(value: datetime | None, style: str = "datetime") -> str:
    """An instant as the page first shows it, always marked UTC (the script may switch it to
    the reader's local time, keeping the same ``style``)."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime(UTC_FORMATS[style])


def iso(value: datetime | None) -> str:
    return format_timestamp(value) if value is not None else ""


def relative(value: datetime | None, now: datetime) -> str:
    """'just now', '5 minutes ago', '3 hours ago', '2 days ago' (or 'in …' for a skewed clock)."""
    if value is None:
        return "never"
    return ago(value, now)


def duration(milliseconds: int | None) -> str:
    """A run's duration: '850 ms', '42 s', '3 min 20 s', '1 h 05 min'."""
    if milliseconds is None:
        return "—"
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds // 1000
    if seconds < 60:
        return f"{milliseconds / 1000:.1f} s".replace(".0 s", " s")
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def label(value: str) -> str:
    """'custom_events' → 'Custom events'."""
    text = value.replace("_", " ")
    return text[:1].upper() + text[1:]


DESTINATIONS = {
    "snowflake": "Snowflake",
    "bigquery": "BigQuery",
    "redshift": "Redshift",
    "databricks": "Databricks",
    "clickhouse": "ClickHouse",
    "postgres": "PostgreSQL",
    "duckdb": "DuckDB",
    "openlineage": "OpenLineage",
}


# Counts, numbers and lengths of time are worded once (pipepulse.wording), for the
# dashboard, the API's reasons and the notifications alike.
number = wording.number
plural = wording.plural
span = wording.span


def destination(kind: str) -> str:
    """How a destination's vendor writes its own name."""
    return DESTINATIONS.get(kind, label(kind))


# Problems first: a broken pipeline, then a struggling one, then one that has gone quiet.
STATUS_ORDER: Final[tuple[Status, ...]] = tuple(reversed(STATUSES))
STATUS_WORDS: Final[dict[str, str]] = {
    "error": "Error",
    "degraded": "Degraded",
    "idle": "Idle",
    "active": "Active",
}


def status_rank(status: str) -> int:
    """Problems first: the most severe status sorts first."""
    return -severity(status)


def period_words(days: int) -> str:
    """'last 24 hours' for one day, else 'last 7 days'."""
    return "last 24 hours" if days == 1 else f"last {days:,} days"
