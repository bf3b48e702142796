"""The pure rules of what an evaluation reports (alerts/changes.py), case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipepulse.alerts import changes
from pipepulse.rules import STATUSES

AT = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("old", "new"), [(o, n) for o, n in product(STATUSES, STATUSES) if o != n])
def test_rule_event__every_status_change__named_as_the_rules_name_it(old: str, new: str) -> None:
    event = changes.status_event(old, new, AT, {"code": "x", "text": "y"})  # type: ignore[arg-type]
    expected = {"error": "status:error", "degraded": "status:degraded", "idle": "status:idle"}.get(new)
    if new == "active":
        expected = "recovered" if old in ("error", "degraded") else None
    assert changes.rule_event(event) == expected
    assert changes.notifiable(old, new) is (expected is not None)  # type: ignore[arg-type]


def test_late_event__two_hours_after_delivery_with_one_hour_sla__late_since_the_sla_ended() -> None:
    late = changes.late_event(
        since=AT, sla=timedelta(hours=1), last_delivery_at=AT, now=AT + timedelta(hours=2)
    )
    assert changes.rule_event(late) == "late"
    assert late.data["late_by_seconds"] == 3600
    assert late.at == AT + timedelta(hours=1)


@given(
    old=st.sampled_from(["normal", "drop", "spike"]),
    new=st.sampled_from(["normal", "drop", "spike"]),
)
def test_volume_changed__any_pair__event_only_when_it_becomes_an_anomaly(old: str, new: str) -> None:
    assert changes.volume_changed(old, new) is (new != "normal" and new != old)


# hypothesis bounds datetimes with naive values; the generated ones carry UTC.
NAIVE_FROM, NAIVE_TO = AT.replace(year=2000, tzinfo=None), AT.replace(year=2100, tzinfo=None)


@given(st.datetimes(min_value=NAIVE_FROM, max_value=NAIVE_TO, timezones=st.just(UTC)))
def test_event_keys__same_change__same_key(at: datetime) -> None:
    first = changes.status_event("active", "error", at, {"text": "a"})
    again = changes.status_event("degraded", "error", at, {"text": "b"})
    assert first.key == again.key
    assert changes.status_event("active", "idle", at, {}).key != first.key


# --- the events' bodies, as docs/alerts.md lists their `data` -----------------------------------

SLA = timedelta(hours=1)


def test_seen_first__idle_on_time_normal__what_a_first_evaluation_compares_with() -> None:
    assert changes.Seen.first() == changes.Seen("idle", False, "normal")


def test_status_event__body_key_and_instant__as_documented() -> None:
    at = AT + timedelta(microseconds=250)
    event = changes.status_event("active", "error", at, {"code": "run_failed", "text": "t"})
    assert event.type == "connection.status_changed"
    assert event.at == at
    assert event.key == "error@2026-04-20T12:00:00.000250Z"
    assert event.data == {
        "from": "active",
        "to": "error",
        "reason": {"code": "run_failed", "text": "t"},
        "at": "2026-04-20T12:00:00Z",
    }


@pytest.mark.parametrize(
    ("now", "late_by"),
    [
        (AT + SLA + timedelta(seconds=90), 90),
        (AT + SLA, 0),  # late from the instant the SLA ran out
        (AT + SLA - timedelta(seconds=5), 0),  # never negative
    ],
)
def test_late_event__body__late_from_the_sla_end_by_whole_seconds(now: datetime, late_by: int) -> None:
    event = changes.late_event(since=AT, sla=SLA, last_delivery_at=AT, now=now)
    assert (event.type, event.at, event.key) == ("connection.late", AT + SLA, "2026-04-20T13:00:00Z")
    assert event.data == {
        "at": "2026-04-20T13:00:00Z",
        "sla_seconds": 3600,
        "last_delivery_at": "2026-04-20T12:00:00Z",
        "late_by_seconds": late_by,
    }
    assert changes.rule_event(event) == "late"


def test_late_event__never_delivered__last_delivery_null() -> None:
    event = changes.late_event(since=AT, sla=SLA, last_delivery_at=None, now=AT + 2 * SLA)
    assert event.data["last_delivery_at"] is None
    assert event.data["late_by_seconds"] == 3600


@pytest.mark.parametrize(
    ("delivery", "now", "at"),
    [
        # Fresh from the delivery that ended the lateness …
        (AT + timedelta(minutes=70), AT + timedelta(minutes=75), AT + timedelta(minutes=70)),
        # … which may be the evaluation's own instant …
        (AT + timedelta(minutes=75), AT + timedelta(minutes=75), AT + timedelta(minutes=75)),
        # … but never later than it (a delivery stamped in the future), nor without one.
        (AT + timedelta(minutes=76), AT + timedelta(minutes=75), AT + timedelta(minutes=75)),
        (None, AT + timedelta(minutes=75), AT + timedelta(minutes=75)),
    ],
)
def test_fresh_event__body__from_the_delivery_that_ended_lateness(
    delivery: datetime | None, now: datetime, at: datetime
) -> None:
    event = changes.fresh_event(sla=SLA, last_delivery_at=delivery, now=now)
    assert (event.type, event.at) == ("connection.fresh", at)
    assert event.key == at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert event.data == {
        "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sla_seconds": 3600,
        "last_delivery_at": delivery.strftime("%Y-%m-%dT%H:%M:%SZ") if delivery else None,
    }
    assert changes.rule_event(event) == "fresh"


def test_volume_event__body__known_at_the_end_of_its_hour() -> None:
    hour = AT.replace(hour=9)
    event = changes.volume_event(hour=hour, actual=3, expected=120.5, lower=80.0, upper=161.0, verdict="drop")
    assert (event.type, event.at) == ("connection.volume_anomaly", AT.replace(hour=10))
    assert event.key == "drop@2026-04-20T09:00:00Z"
    assert event.data == {
        "at": "2026-04-20T10:00:00Z",
        "hour": "2026-04-20T09:00:00Z",
        "actual": 3,
        "expected": 120.5,
        "lower": 80.0,
        "upper": 161.0,
        "verdict": "drop",
    }
    assert changes.rule_event(event) == "volume_anomaly"
    spike = changes.volume_event(
        hour=hour, actual=900, expected=None, lower=None, upper=None, verdict="spike"
    )
    assert spike.key != event.key


def test_rule_event__recovery_to_active__recovered_only_from_error_or_degraded() -> None:
    assert changes.rule_event(changes.status_event("idle", "active", AT, {})) is None
    assert changes.rule_event(changes.status_event("error", "active", AT, {})) == "recovered"
    assert changes.rule_event(changes.status_event("degraded", "active", AT, {})) == "recovered"
