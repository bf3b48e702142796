"""The stretch of time a connection page's status history and hourly chart show, read from the
page's ``period`` or ``from`` and ``to`` parameters (a 400 naming what to change otherwise)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from pipepulse.dashboard.params import BadParameter
from pipepulse.errors import Invalid
from pipepulse.history import service as watch_service
from pipepulse.rollups.plan import HOUR, floor_hour
from pipepulse.rules import DAY, Thresholds

PERIODS: Final[dict[str, timedelta]] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
PERIOD_WORDS: Final[dict[str, str]] = {"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days"}
PERIOD_LABELS: Final[dict[str, str]] = {"24h": "24 h", "7d": "7 days", "30d": "30 days"}
DEFAULT_PERIOD: Final = "7d"
MAX_CHART_DAYS: Final = 31  # a chosen range of days: at most a month of hourly bars


@dataclass(frozen=True)
class ChartRange:
    """The stretch of time the status history and the hourly chart show: a preset period
    ending now, or whole UTC days chosen on the page."""

    period: str | None  # "24h", "7d", "30d", or None for chosen days
    first_day: date | None
    last_day: date | None
    start: datetime
    end: datetime  # exclusive, at most now
    words: str  # "last 7 days", "10-15 Apr 2026" (with an en dash)
    first_hour: datetime  # the chart's first hourly bar
    last_hour: datetime  # and its last: the current hour when the range ends now

    @property
    def params(self) -> dict[str, str | None]:
        if self.period is not None:
            return {"period": self.period if self.period != DEFAULT_PERIOD else None}
        assert self.first_day is not None
        assert self.last_day is not None
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()}


DASH: Final = "\N{EN DASH}"
DAYS: Final = ("from", "to")  # a wrong range of days: offer the page without it


def days_words(first: date, last: date) -> str:
    if first == last:
        return f"{first.day} {first:%b %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}{DASH}{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} {DASH} {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} {DASH} {last.day} {last:%b %Y}"


def chart_range(
    period: str | None, first_day: date | None, last_day: date | None, now: datetime, thresholds: Thresholds
) -> ChartRange:
    """The range asked for, or a 400 saying what to change (within what the status history
    accepts: at most MAX_CHART_DAYS whole days, not in the future, inside raw retention)."""
    if first_day is None and last_day is None:
        key = period or DEFAULT_PERIOD
        # A period of n hours draws n bars, the last one the current hour.
        last = floor_hour(now)
        first = last - PERIODS[key] + HOUR
        return ChartRange(key, None, None, now - PERIODS[key], now, PERIOD_WORDS[key], first, last)
    if period is not None:
        raise BadParameter(
            "period",
            "Choose either a period or a range of days (from and to), not both.",
            drop=("from", "to"),
        )
    if first_day is None or last_day is None:
        missing = "from" if first_day is None else "to"
        raise BadParameter(missing, "A range of days needs both from and to (YYYY-MM-DD, UTC).", drop=DAYS)
    today = now.date()
    if first_day > last_day:
        raise BadParameter(
            "from",
            f"The first day, from={first_day}, must be on or before the last, to={last_day}.",
            drop=DAYS,
        )
    if last_day > today:
        raise BadParameter(
            "to",
            f"The last day, to={last_day}, is in the future; the latest is today, {today} (UTC).",
            drop=DAYS,
        )
    if (last_day - first_day).days + 1 > MAX_CHART_DAYS:
        raise BadParameter("from", f"A range of days may span at most {MAX_CHART_DAYS} days.", drop=DAYS)
    start = datetime.combine(first_day, time(), tzinfo=UTC)
    end = min(datetime.combine(last_day, time(), tzinfo=UTC) + DAY, now)
    try:
        watch_service.resolve_range(start, end, now, thresholds)
    except Invalid as exc:
        raise BadParameter("from", exc.detail[:1].upper() + exc.detail[1:], drop=DAYS) from None
    last = floor_hour(now) if end == now else end - HOUR
    return ChartRange(None, first_day, last_day, start, end, days_words(first_day, last_day), start, last)
