"""Rules that turn one line of an event file into an event or a poison record. No I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipepulse.reporter.report_body import CUSTOM_EVENTS, EVALUATIONS

EVALUATION_NAMES = frozenset({"evaluation", "evaluations", "flag_evaluation"})
TYPE_FIELDS = ("event_type", "type")
ID_FIELDS = ("id", "event_id")
TIMESTAMP_FIELDS = ("timestamp", "occurred_at", "ts")
# Epoch numbers above this are milliseconds: as seconds they would be past the year 5000.
_EPOCH_MS_THRESHOLD = 100_000_000_000


@dataclass(frozen=True)
class Event:
    """A valid event, ready for the warehouse."""

    event_id: str
    event_type: str
    name: str | None
    occurred_at: datetime | None
    payload: str
    size_bytes: int


@dataclass(frozen=True)
class PoisonRecord:
    """A line no retry can load."""

    line_no: int
    reason: str


class InvalidRecord(ValueError):
    """A JSON object whose fields cannot be loaded."""


def _first(record: Mapping[str, Any], fields: tuple[str, ...]) -> Any:
    for name in fields:
        if record.get(name) is not None:
            return record[name]
    return None


def event_name(record: Mapping[str, Any]) -> str | None:
    """The source's own name for the event (`event_type`, else `type`)."""
    value = _first(record, TYPE_FIELDS)
    return value if isinstance(value, str) else None


def classify(record: Mapping[str, Any]) -> str:
    """`evaluations` for flag evaluations, `custom_events` for every other valid event."""
    name = event_name(record)
    return EVALUATIONS if name and name.lower() in EVALUATION_NAMES else CUSTOM_EVENTS


def parse_timestamp(value: object) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text or epoch seconds/milliseconds; naive means UTC."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRecord("timestamp is not ISO 8601 text or an epoch number")
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= _EPOCH_MS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidRecord("timestamp is out of range") from None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRecord("timestamp is not ISO 8601 text or an epoch number") from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    raise InvalidRecord("timestamp is not ISO 8601 text or an epoch number")


def event_id_for(record: Mapping[str, Any], source: str, line_no: int) -> str:
    """The event's own id, else one derived from where it was read, stable across reruns."""
    value = _first(record, ID_FIELDS)
    if value is None:
        return f"{source}:{line_no}"
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise InvalidRecord("id is not a non-empty string or an integer")
    return str(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_line(raw: bytes, *, source: str, line_no: int) -> Event | PoisonRecord:
    """Turn one line into an event, or a poison record saying why it cannot be loaded."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return PoisonRecord(line_no, "not UTF-8 text")
    try:
        # NaN and Infinity are not JSON, and warehouses reject them: refuse them here.
        record = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return PoisonRecord(line_no, "not valid JSON")
    if not isinstance(record, dict):
        return PoisonRecord(line_no, "not a JSON object")
    try:
        return Event(
            event_id=event_id_for(record, source, line_no),
            event_type=classify(record),
            name=event_name(record),
            occurred_at=parse_timestamp(_first(record, TIMESTAMP_FIELDS)),
            payload=text,
            size_bytes=len(raw),
        )
    except InvalidRecord as exc:
        return PoisonRecord(line_no, str(exc))
