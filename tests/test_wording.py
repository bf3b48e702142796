"""One wording for people: lengths of time, counts, plurals, and the next step a status asks for."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipepulse import wording
from pipepulse.dashboard import advice
from pipepulse.rules import dlq_message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59, "59 s"), (60, "1 min"), (7200, "2 h"), (69792, "19 h 23 min"), (69840, "19 h 24 min")],
)
def test_span__seconds__read_at_a_glance(seconds: int, text: str) -> None:
    assert wording.span(seconds) == text
    assert wording.span(timedelta(seconds=seconds)) == text


def test_late__the_delivery_log_line__hours_and_minutes_not_seconds() -> None:
    assert wording.late(69840, 7200) == "late by 19 h 24 min (SLA 2 h)"


def test_dlq_message__one_batch__singular() -> None:
    assert dlq_message(1) == "1 batch moved to the dead-letter queue"
    assert dlq_message(3) == "3 batches moved to the dead-letter queue"


def test_number__whole_floats_read_as_integers() -> None:
    assert wording.number(703.0) == "703"
    assert wording.number(1234) == "1,234"
    assert wording.plural(1, "run") == "1 run"
    assert wording.plural(2_000, "run") == "2,000 runs"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            "destination unreachable: postgresql://loader@127.0.0.1:1/warehouse: connection refused",
            "unreachable",
        ),
        ("connection to server timed out", "unreachable"),
        ('FATAL: password authentication failed for user "loader"', "authentication"),
        ("permission denied for table events", "permissions"),
        ('relation "events" does not exist', "schema"),
        ("column payload is of type integer but expression is of type text", "schema"),
        ("Quota exceeded: too many table update operations", "quota"),
        ("1 batch moved to the dead-letter queue", None),
        (None, None),
    ],
)
def test_error_class__message__names_what_went_wrong(message: str | None, kind: str | None) -> None:
    assert advice.error_class(message) == kind


def test_hint__failing_and_unreachable__says_to_check_the_network_not_credentials() -> None:
    text = advice.hint("latest_runs_failing", latest_error="destination unreachable: x: connection refused")
    assert "cannot be reached" in text
    assert "credentials" not in text


def test_hint__delivering_but_volume_spike__is_not_nothing_to_do() -> None:
    text = advice.hint("delivering", volume_verdict="spike")
    assert not text.startswith("Nothing to do")
    assert "far more events" in text


def test_hint__delivering_but_late__names_the_sla_in_hours() -> None:
    text = advice.hint("delivering", late_by_seconds=69840, sla_seconds=7200)
    assert "late by 19 h 24 min" in text
    assert "SLA of 2 h" in text


def test_hint__delivering_on_time_normal_volume__nothing_to_do() -> None:
    assert advice.hint("delivering", volume_verdict="normal").startswith("Nothing to do")
