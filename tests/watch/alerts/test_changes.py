"""The pure rules of what an evaluation reports (watch/alerts/changes.py), case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipepulse.rules import STATUSES
from pipepulse.watch.alerts import changes
from pipepulse.watch.alerts.changes import RuleView

AT = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
EVERY = ["status:error", "status:degraded", "status:idle", "recovered", "late", "fresh", "volume_anomaly"]


@pytest.mark.parametrize(("old", "new"), [(o, n) for o, n in product(STATUSES, STATUSES) if o != n])
def test_rule_event__every_status_change__named_as_the_rules_name_it(old: str, new: str) -> None:
    event = changes.status_event(old, new, AT, {"code": "x", "text": "y"})  # type: ignore[arg-type]
    expected = {"error": "status:error", "degraded": "status:degraded", "idle": "status:idle"}.get(new)
    if new == "active":
        expected = "recovered" if old in ("error", "degraded") else None
    assert changes.rule_event(event) == expected
    assert changes.notifiable(old, new) is (expected is not None)  # type: ignore[arg-type]


def test_matching__connection_list_and_events__only_rules_that_ask() -> None:
    rules = [
        RuleView("a", "c1", ["status:error"], None, 0),
        RuleView("b", "c2", ["status:error"], ["wc_other"], 0),
        RuleView("c", "c3", ["late"], ["wc_1"], 0),
        RuleView("d", "c4", ["status:error", "late"], ["wc_1"], 600),
    ]
    error = changes.status_event("active", "error", AT, {})
    assert [r.id for r in changes.matching(rules, error, "wc_1")] == ["a", "d"]
    late = changes.late_event(
        since=AT, sla=timedelta(hours=1), last_delivery_at=AT, now=AT + timedelta(hours=2)
    )
    assert [r.id for r in changes.matching(rules, late, "wc_1")] == ["c", "d"]
    assert late.data["late_by_seconds"] == 3600
    assert late.at == AT + timedelta(hours=1)


def test_hold__status_events_only__due_when_the_hold_ends() -> None:
    rule = RuleView("r", "c", EVERY, None, 600)
    error = changes.status_event("active", "error", AT, {})
    assert changes.hold_until(rule, error) == AT + timedelta(minutes=10)
    assert changes.due_at(changes.hold_until(rule, error), AT + timedelta(minutes=1)) == AT + timedelta(
        minutes=10
    )
    assert changes.due_at(changes.hold_until(rule, error), AT + timedelta(hours=1)) == AT + timedelta(hours=1)
    fresh = changes.fresh_event(sla=timedelta(hours=1), last_delivery_at=AT, now=AT + timedelta(minutes=5))
    assert changes.hold_until(rule, fresh) is None
    assert changes.hold_until(RuleView("r", "c", EVERY, None, 0), error) is None


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
