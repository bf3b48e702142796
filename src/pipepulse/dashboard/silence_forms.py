"""The Alerts page's silences and maintenance windows (SPEC §7.4, §7.7): what the panel lists,
and the form fields read into the bodies the API takes.

The reading is pure and strict: a field the API would refuse is left for the API's own model and
service to refuse, so the page and the API give the same messages; only what a form writes
differently from JSON (matchers one per line, a duration, a local-time-free instant) is read
here, and a field that cannot be read raises :class:`FormError` with what to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts import silences_router
from pipepulse.alerts.silences_router import SilenceOut, WindowOut

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MATCHER_LINE = re.compile(r"\s*([^\s=!~]+)\s*(!=|=~|!~|=)\s*(.*?)\s*")
DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")
# The longest silence the form offers: a year (the API takes any end; a form typo should not).
MAX_DURATION = timedelta(days=366)
INSTANT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")


class FormError(ValueError):
    """A form field that cannot be read; the message says what to fix."""


@dataclass(frozen=True)
class SilencesPanel:
    silences: list[SilenceOut]
    windows: list[WindowOut]


async def panel(session: AsyncSession, organisation_id: int, now: datetime) -> SilencesPanel:
    """The organisation's silences that are active or pending (expired ones are history, on the
    API), and all its maintenance windows."""
    silences = await silences_router.organisation_silences(session, organisation_id, None, now)
    return SilencesPanel(
        silences=[s for s in silences if s.state != "expired"],
        windows=await silences_router.organisation_windows(session, organisation_id, now),
    )


def parse_matchers(text: str) -> dict[str, str]:
    """``label=value`` one per line (``!=``, ``=~``, ``!~`` too) as the API's ``{label: value}``."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = MATCHER_LINE.fullmatch(line)
        if match is None:
            raise FormError(
                f"matchers line {number}: write label=value, label!=value, label=~regex or label!~regex"
            )
        label, op, value = match.groups()
        if label in found:
            raise FormError(f"matchers line {number}: {label} is already matched on another line")
        # A plain value is an equality; one that itself starts with an operator's characters
        # is written with an explicit "=" so the API does not read it as that operator.
        explicit = op != "=" or value.startswith(("!", "="))
        found[label] = f"{op}{value}" if explicit else value
    if not found:
        raise FormError("matchers: give at least one, e.g. condition=error")
    return found


def show_matcher(label: str, value: str) -> str:
    """A stored matcher as the form writes it: ``label!=value``."""
    for op in ("!=", "=~", "!~", "="):
        if value.startswith(op):
            return f"{label}{op}{value[len(op) :]}"
    return f"{label}={value}"


def parse_duration(text: str) -> timedelta:
    """``90m``, ``2h``, ``1h30m``, ``1d``, ``2w``; bare digits are minutes."""
    text = text.strip().lower().replace(" ", "")
    if text.isascii() and text.isdigit():
        length = timedelta(minutes=int(text))
    else:
        match = DURATION.fullmatch(text)
        if not text or match is None:
            raise FormError("duration: write it as 90m, 2h, 1h30m, 1d or 2w")
        weeks, days, hours, minutes = (int(g or 0) for g in match.groups())
        length = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)
    if not timedelta(minutes=1) <= length <= MAX_DURATION:
        raise FormError("duration: from 1 minute to 366 days")
    return length


def parse_instant(text: str, field: str) -> datetime | None:
    """A form's date and time, read as UTC (the page shows every time in UTC); blank is None."""
    text = text.strip()
    if not text:
        return None
    for layout in INSTANT_FORMATS:
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise FormError(f"{field}: write a UTC date and time as 2026-04-20T14:30")


def silence_body(form: dict[str, str], now: datetime) -> dict[str, Any]:
    """The ``POST …/silences/`` body from the form: start blank is now; the end is either an
    instant or a duration from the start."""
    starts_at = parse_instant(form.get("starts_at", ""), "starts_at") or now
    ends_at = parse_instant(form.get("ends_at", ""), "ends_at")
    duration = form.get("duration", "").strip()
    if ends_at is not None and duration:
        raise FormError("give either an end or a duration, not both")
    if ends_at is None:
        if not duration:
            raise FormError("give an end or a duration (e.g. 2h)")
        ends_at = starts_at + parse_duration(duration)
    return {
        "matchers": parse_matchers(form.get("matchers", "")),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "comment": form.get("comment", ""),
    }


def window_body(form: dict[str, str], weekdays: list[str]) -> dict[str, Any]:
    """The ``POST …/maintenance-windows/`` body from the form (weekdays as ticked boxes)."""
    days = [int(d) for d in weekdays if d.isascii() and d.isdigit() and len(d) == 1]
    if len(days) != len(weekdays):
        raise FormError("weekdays: tick days from Monday to Sunday")
    if not days:
        raise FormError("weekdays: tick at least one day")
    minutes = form.get("duration_minutes", "").strip()
    if not (minutes.isascii() and minutes.isdigit()):
        raise FormError("duration_minutes: a whole number of minutes, e.g. 60")
    return {
        "matchers": parse_matchers(form.get("matchers", "")),
        "time_zone": form.get("time_zone", "").strip(),
        "weekdays": days,
        "start": form.get("start", "").strip(),
        "duration_minutes": int(minutes),
        "comment": form.get("comment", ""),
    }
