"""The rules that turn a line into an event or a poison record."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipepulse.loader.classify import Event, PoisonRecord, classify, parse_line, parse_timestamp


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"event_type": "flag_evaluation"}, "evaluations"),
        ({"type": "evaluation"}, "evaluations"),
        ({"event_type": "Evaluations"}, "evaluations"),
        ({"event_type": "page_view", "type": "evaluation"}, "custom_events"),
        ({"event_type": None, "type": "evaluation"}, "evaluations"),
        ({"type": "checkout_completed"}, "custom_events"),
        ({"type": 3}, "custom_events"),
        ({}, "custom_events"),
    ],
)
def test_classify__record__event_type(record: dict[str, object], expected: str) -> None:
    assert classify(record) == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"id": "a", "type": "pa', "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"just text"', "not a JSON object"),
        (b'{"value": NaN}', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b'{"timestamp": "yesterday"}', "timestamp is not ISO 8601 text or an epoch number"),
        (b'{"timestamp": true}', "timestamp is not ISO 8601 text or an epoch number"),
        (b'{"id": {"nested": 1}}', "id is not a non-empty string or an integer"),
        (b'{"id": ""}', "id is not a non-empty string or an integer"),
    ],
)
def test_parse_line__malformed__poison_record_with_reason(line: bytes, reason: str) -> None:
    assert parse_line(line, source="f.jsonl", line_no=4) == PoisonRecord(4, reason)


def test_parse_line__event_without_id__id_derived_from_file_and_line() -> None:
    line = b'{"type": "signup"}'

    event = parse_line(line, source="events/7/2026/04/20/11/a.jsonl.gz", line_no=12)

    assert isinstance(event, Event)
    assert event.event_id == "events/7/2026/04/20/11/a.jsonl.gz:12"
    assert (event.event_type, event.name, event.occurred_at) == ("custom_events", "signup", None)
    assert (event.payload, event.size_bytes) == ('{"type": "signup"}', 18)


def test_parse_line__integer_id__kept_as_text() -> None:
    event = parse_line(b'{"event_id": 42}', source="f", line_no=1)

    assert isinstance(event, Event)
    assert event.event_id == "42"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-04-20T11:00:00Z", datetime(2026, 4, 20, 11, tzinfo=UTC)),
        ("2026-04-20T13:00:00+02:00", datetime(2026, 4, 20, 11, tzinfo=UTC)),
        ("2026-04-20T11:00:00", datetime(2026, 4, 20, 11, tzinfo=UTC)),
        (1776682800, datetime(2026, 4, 20, 11, tzinfo=UTC)),
        (1776682800.5, datetime(2026, 4, 20, 11, 0, 0, 500000, tzinfo=UTC)),
        (1776682800000, datetime(2026, 4, 20, 11, tzinfo=UTC)),
        (None, None),
    ],
)
def test_parse_timestamp__supported_forms__aware_utc(value: object, expected: datetime) -> None:
    assert parse_timestamp(value) == expected


@given(st.binary(max_size=200))
def test_parse_line__any_bytes__event_or_poison_never_an_exception(line: bytes) -> None:
    assert isinstance(parse_line(line, source="f", line_no=1), Event | PoisonRecord)


_json_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.lists(st.integers(), max_size=3)
)
_records = st.dictionaries(
    st.sampled_from(["id", "event_id", "type", "event_type", "timestamp", "ts", "x"]),
    _json_values,
)


@given(_records)
def test_parse_line__any_json_object__event_or_poison_never_an_exception(record: dict[str, object]) -> None:
    line = json.dumps(record).encode()

    parsed = parse_line(line, source="f", line_no=1)

    assert isinstance(parsed, Event | PoisonRecord)
    if isinstance(parsed, Event):
        assert parsed.event_type in ("evaluations", "custom_events")
        assert parsed.occurred_at is None or parsed.occurred_at.tzinfo is not None
