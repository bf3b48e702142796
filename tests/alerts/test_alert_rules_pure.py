"""The pure rules of SPEC §7.4: label matchers, silences, maintenance windows, group timing."""

from __future__ import annotations

import re
import string
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipepulse.alerts import changes, grouping, groups, maintenance, matchers, silences
from pipepulse.alerts.grouping import Decision, GroupState, Timing
from pipepulse.alerts.maintenance import Window

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
LABELS = {"organisation": "acme", "connection": "wc_1", "condition": "error", "fingerprint": "ab12"}
VALUES = st.text(alphabet=string.ascii_lowercase + string.digits + "_-", max_size=8)


# --- matchers ---------------------------------------------------------------------------------


def test_matchers__four_operators__as_alertmanager() -> None:
    assert matchers.matches({"condition": "error"}, LABELS)
    assert not matchers.matches({"condition": "late"}, LABELS)
    assert matchers.matches({"condition": "!=late"}, LABELS)
    assert matchers.matches({"connection": "=~wc_.*"}, LABELS)
    assert not matchers.matches({"connection": "=~wc"}, LABELS)  # anchored at both ends
    assert matchers.matches({"connection": "!~x.*"}, LABELS)
    assert matchers.matches({"condition": "error", "organisation": "acme"}, LABELS)
    assert not matchers.matches({"condition": "error", "organisation": "other"}, LABELS)
    # A missing label reads as "", as in Alertmanager.
    assert matchers.matches({"severity": ""}, LABELS)
    assert matchers.matches({"severity": "!=critical"}, LABELS)
    assert matchers.matches({"note": "=!x"}, {"note": "!x"})


def test_matchers__bad_input__message_says_what_to_fix() -> None:
    with pytest.raises(matchers.InvalidMatcher, match="regular expression"):
        matchers.parse({"connection": "=~("})
    with pytest.raises(matchers.InvalidMatcher, match="at least one label"):
        matchers.parse({})
    with pytest.raises(matchers.InvalidMatcher, match="label name"):
        matchers.parse({"bad label": "x"})


@given(
    name=st.sampled_from(sorted(LABELS)),
    value=VALUES,
    labels=st.dictionaries(st.sampled_from(sorted(LABELS)), VALUES),
)
def test_matchers__negation__is_the_complement(name: str, value: str, labels: dict[str, str]) -> None:
    assert matchers.matches({name: value}, labels) != matchers.matches({name: f"!={value}"}, labels)
    regex = re.escape(value)
    assert matchers.matches({name: f"=~{regex}"}, labels) == matchers.matches({name: value}, labels)
    assert matchers.matches({name: f"=~{regex}"}, labels) != matchers.matches({name: f"!~{regex}"}, labels)


# --- silences ---------------------------------------------------------------------------------


def test_silences__state_and_matching__over_time() -> None:
    s = silences.Silence("sil_1", {"fingerprint": "ab12"}, T0, T0 + timedelta(hours=1))
    assert silences.state(s, T0 - timedelta(seconds=1)) == "pending"
    assert silences.state(s, T0) == "active"
    assert silences.state(s, T0 + timedelta(hours=1)) == "expired"
    assert silences.silencing([s], LABELS, T0) == ["sil_1"]
    assert silences.silencing([s], {**LABELS, "fingerprint": "other"}, T0) == []
    assert silences.silencing([s], LABELS, T0 + timedelta(hours=1)) == []


def test_silences__next_boundary__the_next_start_or_end_of_a_matching_silence() -> None:
    hour = timedelta(hours=1)
    pending = silences.Silence("sil_p", {"fingerprint": "ab12"}, T0 + hour, T0 + 3 * hour)
    active = silences.Silence("sil_a", {"condition": "error"}, T0 - hour, T0 + 2 * hour)
    other = silences.Silence("sil_o", {"fingerprint": "zz"}, T0 + timedelta(minutes=1), T0 + hour)
    assert silences.next_boundary([], LABELS, T0) is None
    assert silences.next_boundary([pending], LABELS, T0) == T0 + hour
    assert silences.next_boundary([pending], LABELS, T0 + hour) == T0 + 3 * hour  # begun: its end
    assert silences.next_boundary([pending], LABELS, T0 + 3 * hour) is None  # expired
    assert silences.next_boundary([active, pending], LABELS, T0 + hour) == T0 + 2 * hour
    assert silences.next_boundary([other], LABELS, T0) is None  # does not match


@settings(max_examples=200)
@given(
    spans=st.lists(st.tuples(st.integers(-120, 120), st.integers(1, 120), st.booleans()), max_size=5),
    fraction=st.floats(0, 1, exclude_max=True),
)
def test_silences__next_boundary__nothing_changes_before_it_and_something_at_it(
    spans: list[tuple[int, int, bool]], fraction: float
) -> None:
    found = [
        silences.Silence(
            f"sil_{i}",
            {"fingerprint": "ab12" if matching else "zz"},
            T0 + timedelta(minutes=start),
            T0 + timedelta(minutes=start + length),
        )
        for i, (start, length, matching) in enumerate(spans)
    ]
    boundary = silences.next_boundary(found, LABELS, T0)
    now = set(silences.silencing(found, LABELS, T0))
    if boundary is None:
        assert set(silences.silencing(found, LABELS, T0 + timedelta(days=1))) == now == set()
        return
    assert boundary > T0
    between = min(T0 + (boundary - T0) * fraction, boundary - timedelta(microseconds=1))
    assert set(silences.silencing(found, LABELS, between)) == now
    assert set(silences.silencing(found, LABELS, boundary)) != now


# --- maintenance windows ----------------------------------------------------------------------


def window(**kw: object) -> Window:
    base: dict[str, object] = {
        "id": "mw_1",
        "matchers": {"organisation": "acme"},
        "time_zone": "Europe/Berlin",
        "weekdays": [6],
        "start": "02:30",
        "duration_minutes": 60,
    }
    return Window(**(base | kw))  # type: ignore[arg-type]


def test_maintenance__spring_forward__skipped_start_begins_past_the_jump() -> None:
    # 2026-03-29 (a Sunday): Berlin jumps from 02:00 CET to 03:00 CEST; 02:30 does not exist.
    w = window()
    assert maintenance.occurrence_at(w, datetime(2026, 3, 29, 1, 29, tzinfo=UTC)) is None
    assert maintenance.occurrence_at(w, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)) == (
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # 03:30 CEST
        datetime(2026, 3, 29, 2, 30, tzinfo=UTC),
    )


def test_maintenance__fall_back__repeated_start_begins_at_the_first() -> None:
    # 2026-10-25 (a Sunday): Berlin goes from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
    w = window()
    found = maintenance.occurrence_at(w, datetime(2026, 10, 25, 1, 0, tzinfo=UTC))
    assert found == (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    # 60 real minutes: over at the second 02:30.
    assert maintenance.occurrence_at(w, datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) is None


def test_maintenance__ordinary_weeks__local_time_follows_the_zone() -> None:
    w = window(start="09:00", weekdays=[0, 2])  # Monday and Wednesday, 09:00 Berlin
    winter = datetime(2026, 1, 5, 8, 15, tzinfo=UTC)  # Monday 09:15 CET
    summer = datetime(2026, 7, 6, 7, 15, tzinfo=UTC)  # Monday 09:15 CEST
    assert maintenance.occurrence_at(w, winter) is not None
    assert maintenance.occurrence_at(w, summer) is not None
    assert maintenance.occurrence_at(w, datetime(2026, 7, 6, 8, 15, tzinfo=UTC)) is None  # 10:15
    assert maintenance.occurrence_at(w, datetime(2026, 7, 7, 7, 15, tzinfo=UTC)) is None  # Tuesday
    assert maintenance.silencing([w], LABELS, winter) == ["mw_1"]
    assert maintenance.silencing([w], {**LABELS, "organisation": "else"}, winter) == []


def test_maintenance__past_midnight__belongs_to_its_start_day() -> None:
    w = window(time_zone="America/New_York", weekdays=[4], start="23:00", duration_minutes=180)
    # Friday 23:00 EST = Saturday 04:00 UTC; Saturday 01:30 EST still inside.
    assert maintenance.occurrence_at(w, datetime(2026, 1, 10, 6, 30, tzinfo=UTC)) is not None
    assert maintenance.occurrence_at(w, datetime(2026, 1, 10, 7, 0, tzinfo=UTC)) is None


def test_maintenance__bad_input__says_what_to_fix() -> None:
    with pytest.raises(maintenance.InvalidWindow, match="IANA"):
        maintenance.validate("Mars/Olympus", [0], "10:00", 60)
    with pytest.raises(maintenance.InvalidWindow, match="HH:MM"):
        maintenance.validate("UTC", [0], "24:00", 60)
    for days in ([7], [], [-1]):
        with pytest.raises(maintenance.InvalidWindow) as refused:
            maintenance.validate("UTC", days, "10:00", 60)
        assert str(refused.value) == "weekdays must list days 0 to 6 (Monday 0), at least one"
    with pytest.raises(maintenance.InvalidWindow, match="duration_minutes"):
        maintenance.validate("UTC", [0], "10:00", 0)


@pytest.mark.parametrize(
    ("minutes", "accepted"),
    [(0, False), (1, True), (2, True), (10_079, True), (10_080, True), (10_081, False)],
)
def test_maintenance__duration_edges__one_minute_to_one_week_inclusive(minutes: int, accepted: bool) -> None:
    if accepted:
        maintenance.validate("UTC", [0, 6], "00:00", minutes)
        return
    with pytest.raises(maintenance.InvalidWindow) as refused:
        maintenance.validate("UTC", [0, 6], "00:00", minutes)
    assert str(refused.value) == "duration_minutes must be between 1 and 10080"


def test_maintenance__spring_forward_night__a_long_window_still_holds_two_local_days_later() -> None:
    # Saturday 2026-03-28 23:59 CET lasts 1439 real minutes; the clocks jump an hour overnight,
    # so it ends at Monday 00:58 CEST (2026-03-29 22:58 UTC), two local days after it began.
    w = window(weekdays=[5], start="23:59", duration_minutes=1439)
    occurrence = (datetime(2026, 3, 28, 22, 59, tzinfo=UTC), datetime(2026, 3, 29, 22, 58, tzinfo=UTC))
    monday_0030 = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)
    assert maintenance.occurrence_at(w, monday_0030) == occurrence
    assert maintenance.next_occurrence(w, monday_0030) == occurrence
    assert maintenance.occurrence_at(w, occurrence[1]) is None


def test_maintenance__next_occurrence__the_one_holding_now_else_the_next_even_later_today() -> None:
    w = window(start="09:00", weekdays=[0], duration_minutes=30)  # Mondays 09:00 Berlin
    monday = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # 09:00 CET
    occurrence = (monday, monday + timedelta(minutes=30))
    assert maintenance.next_occurrence(w, monday - timedelta(seconds=1)) == occurrence
    assert maintenance.next_occurrence(w, monday) == occurrence
    assert maintenance.next_occurrence(w, monday + timedelta(minutes=29)) == occurrence
    week_later = (monday + timedelta(days=7), monday + timedelta(days=7, minutes=30))
    assert maintenance.next_occurrence(w, monday + timedelta(minutes=30)) == week_later


@pytest.mark.parametrize("server_zone", ["Etc/GMT+12", "Pacific/Kiritimati"])
def test_maintenance__server_local_zone__changes_nothing(
    server_zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows are read in their own zone and answered in UTC, whatever zone the server runs in.
    w = window(start="12:00", weekdays=[0], duration_minutes=30)  # Mondays 12:00 Berlin
    monday = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    monkeypatch.setenv("TZ", server_zone)
    time.tzset()
    try:
        inside = maintenance.occurrence_at(w, monday + timedelta(minutes=15))
        # 11:30 in Berlin is already Tuesday on Kiritimati, still Sunday at UTC-12.
        upcoming = maintenance.next_occurrence(w, monday - timedelta(minutes=30))
    finally:
        monkeypatch.undo()
        time.tzset()
    for found in (inside, upcoming):
        assert found == (monday, monday + timedelta(minutes=30))
        assert found is not None
        assert all(t.utcoffset() == timedelta(0) for t in found)


def test_maintenance__next_boundary__its_begin_ahead_else_its_end() -> None:
    w = window(start="09:00", weekdays=[0], duration_minutes=30, matchers={"organisation": "acme"})
    monday = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert maintenance.next_boundary([w], LABELS, monday - timedelta(hours=1)) == monday
    assert maintenance.next_boundary([w], LABELS, monday) == monday + timedelta(minutes=30)
    assert maintenance.next_boundary([w], LABELS, monday + timedelta(minutes=30)) == monday + timedelta(
        days=7
    )
    assert maintenance.next_boundary([w], {**LABELS, "organisation": "other"}, monday) is None
    assert maintenance.next_boundary([], LABELS, monday) is None
    elsewhere = window(start="09:00", weekdays=[0], duration_minutes=30, matchers={"organisation": "other"})
    assert maintenance.next_boundary([elsewhere, w], LABELS, monday) == monday + timedelta(minutes=30)


ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"])


@settings(max_examples=200)
@given(
    zone=ZONES,
    weekdays=st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True),
    hh=st.integers(0, 23),
    mm=st.integers(0, 59),
    duration=st.integers(1, 3 * 24 * 60),
    at=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),  # noqa: DTZ001
)
def test_maintenance__any_window__occurrence_holds_now_and_starts_on_a_chosen_weekday(
    zone: str, weekdays: list[int], hh: int, mm: int, duration: int, at: datetime
) -> None:
    w = window(time_zone=zone, weekdays=weekdays, start=f"{hh:02d}:{mm:02d}", duration_minutes=duration)
    found = maintenance.occurrence_at(w, at)
    if found is not None:
        begin, end = found
        assert begin <= at < end
        assert end - begin == timedelta(minutes=duration)
        assert begin.astimezone(maintenance.zone(zone)).weekday() in weekdays
    upcoming = maintenance.next_occurrence(w, at)
    assert upcoming is not None
    assert upcoming[1] > at
    # Whether it silences cannot change before its next boundary.
    boundary = maintenance.next_boundary([w], LABELS, at)
    assert boundary is not None
    assert boundary > at
    before = boundary - timedelta(microseconds=1)
    assert maintenance.silencing([w], LABELS, before) == maintenance.silencing([w], LABELS, at)


# --- grouping ---------------------------------------------------------------------------------


def test_grouping__key_and_id__from_group_by_labels() -> None:
    assert grouping.key(LABELS, ["fingerprint"]) == {"fingerprint": "ab12"}
    assert grouping.key(LABELS, []) == {}
    assert grouping.key(LABELS, ["severity"]) == {"severity": ""}
    one = grouping.group_id("arl_1", {"fingerprint": "ab12"})
    assert one == grouping.group_id("arl_1", {"fingerprint": "ab12"})
    assert one != grouping.group_id("arl_2", {"fingerprint": "ab12"})
    assert one != grouping.group_id("arl_1", {"fingerprint": "cd34"})


def test_grouping__group_id__same_across_versions_and_replicas() -> None:
    # Groups are stored by id: an id that changed between versions would open a second group
    # (and page again) for alerts already grouped under the old one after an upgrade.
    assert grouping.group_id("arl_1", {"fingerprint": "ab12"}) == "agr_b4ff106274a7a5047c4994ce"
    assert (
        grouping.group_id("arl_1", {"fingerprint": "ab12", "connection": "con_1"})
        == grouping.group_id("arl_1", {"connection": "con_1", "fingerprint": "ab12"})
        == "agr_32f335473d953829a724fdab"
    )


def test_grouping__decision__due_from_its_instant_on_never_without_one() -> None:
    assert not Decision(None).due(T0)
    assert not Decision(None, close=True).due(T0)
    assert not Decision(T0).due(T0 - timedelta(seconds=1))
    assert Decision(T0).due(T0)
    assert Decision(T0).due(T0 + timedelta(seconds=1))


TIMING = Timing(group_wait_seconds=10, group_interval_seconds=300, repeat_interval_seconds=3600)
A, B = ("a", True), ("b", True)


def test_grouping__new_group__waits_group_wait_then_notifies() -> None:
    state = GroupState(T0, frozenset({A}), None, None)
    assert grouping.decide(TIMING, state, T0) == Decision(T0 + timedelta(seconds=10))
    assert grouping.decide(TIMING, state, T0 + timedelta(seconds=30)).due(T0 + timedelta(seconds=30))


def test_grouping__resolved_before_group_wait__closes_silently() -> None:
    state = GroupState(T0, frozenset({("a", False)}), None, None)
    assert grouping.decide(TIMING, state, T0) == Decision(None, close=True)


def test_grouping__changed__waits_group_interval_after_last_notification() -> None:
    sent = T0 + timedelta(seconds=10)
    state = GroupState(T0, frozenset({A, B}), frozenset({A}), sent)
    assert grouping.decide(TIMING, state, sent + timedelta(seconds=1)).notify_at == sent + timedelta(
        seconds=300
    )


def test_grouping__unchanged__repeats_unless_acknowledged_or_zero() -> None:
    sent = T0
    state = GroupState(T0, frozenset({A}), frozenset({A}), sent)
    assert grouping.decide(TIMING, state, T0).notify_at == T0 + timedelta(hours=1)
    acked = GroupState(T0, frozenset({A}), frozenset({A}), sent, acknowledged=True)
    assert grouping.decide(TIMING, acked, T0).notify_at is None
    never = Timing(10, 300, 0)
    assert grouping.decide(never, state, T0).notify_at is None


def test_grouping__all_resolved__one_resolved_notification_then_close() -> None:
    state = GroupState(T0, frozenset({("a", False)}), frozenset({A}), T0)
    assert grouping.decide(TIMING, state, T0 + timedelta(minutes=10)) == Decision(
        T0 + timedelta(minutes=10), close=True
    )
    told = GroupState(T0, frozenset({("a", False)}), frozenset({("a", False)}), T0 + timedelta(minutes=10))
    assert grouping.decide(TIMING, told, T0 + timedelta(minutes=11)) == Decision(None, close=True)


@pytest.mark.parametrize(
    ("condition", "events", "told"),
    [
        ("error", ["status:error"], False),
        ("error", ["status:error", "recovered"], True),
        ("degraded", ["status:degraded"], False),
        # `recovered` asks for the resolution of every status alert, whatever the new status.
        ("degraded", ["status:degraded", "recovered"], True),
        ("error", ["status:error", "fresh"], False),
        ("late", ["late"], False),
        ("late", ["late", "fresh"], True),
        ("late", ["late", "recovered"], False),
        # No rule event names the end of a volume anomaly or of a burn: it is always told.
        ("volume_anomaly", ["volume_anomaly"], True),
        ("budget_burn_fast", ["budget_burn_fast"], True),
    ],
)
def test_grouping__resolved_alert__told_only_when_the_rule_asks(
    condition: str, events: list[str], told: bool
) -> None:
    assert grouping.tells_resolved(condition, events) is told


ALERTS = st.frozensets(st.tuples(st.sampled_from("abcd"), st.booleans()), min_size=1, max_size=4)


@settings(max_examples=300)
@given(
    wait=st.integers(0, 600),
    interval=st.integers(0, 600),
    repeat=st.integers(0, 7200),
    current=ALERTS,
    notified=st.one_of(st.none(), ALERTS),
    since=st.integers(0, 7200),
    acked=st.booleans(),
)
def test_grouping__any_state__never_sooner_than_alertmanager_allows(
    wait: int,
    interval: int,
    repeat: int,
    current: frozenset[tuple[str, bool]],
    notified: frozenset[tuple[str, bool]] | None,
    since: int,
    acked: bool,
) -> None:
    timing = Timing(wait, interval, repeat)
    last = None if notified is None else T0 + timedelta(seconds=wait)
    now = T0 + timedelta(seconds=since)
    if last is not None and now < last:
        now = last
    decision = grouping.decide(timing, GroupState(T0, current, notified, last, acked), now)
    if decision.notify_at is None:
        return
    assert decision.notify_at >= now
    if notified is None:
        assert decision.notify_at >= T0 + timedelta(seconds=wait)
    else:
        assert last is not None
        assert decision.notify_at >= last + timedelta(seconds=interval if current != notified else repeat)
        if current == notified:
            assert not acked
            assert repeat > 0


@given(
    lasted=st.one_of(st.none(), st.integers(0, 3_600)),
    hold=st.integers(0, 3_600),
    elapsed=st.integers(0, 7_200),
)
def test_grouping__min_duration__alert_joins_once_its_condition_lasted_that_long(
    lasted: int | None, hold: int, elapsed: int
) -> None:
    started = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    ended = None if lasted is None else started + timedelta(seconds=lasted)
    now = started + timedelta(seconds=elapsed)
    joined = grouping.joined_at(started, ended, hold, now)
    if lasted is not None and lasted < hold:
        assert joined is None  # ended sooner: never told
    elif elapsed < hold:
        assert joined is None  # still held back
    else:
        assert joined == started + timedelta(seconds=hold)


def test_grouping__each_event_type__opens_and_ends_its_condition() -> None:
    at = datetime(2026, 4, 20, 13, 0, tzinfo=UTC)
    reason = {"code": "latest_runs_failing", "text": "The last 3 finished runs were all failing."}
    error = changes.status_event("active", "error", at, reason)
    assert groups.alert_change(error) == groups.AlertChange(None, "error", "active", reason)
    degraded = changes.status_event("error", "degraded", at, reason)
    assert groups.alert_change(degraded) == groups.AlertChange("error", "degraded", "error", reason)
    recovered = changes.status_event("degraded", "active", at, reason)
    assert groups.alert_change(recovered) == groups.AlertChange("degraded", None, "degraded", reason)
    late = changes.late_event(
        since=at, sla=timedelta(hours=2), last_delivery_at=at, now=at + timedelta(hours=3)
    )
    found = groups.alert_change(late)
    assert (found.ends, found.opens, found.from_status) == (None, "late", None)
    assert found.reason is not None
    assert found.reason["code"] == "late"
    fresh = changes.fresh_event(sla=timedelta(hours=2), last_delivery_at=at, now=at)
    assert groups.alert_change(fresh) == groups.AlertChange("late", None, None, None)
    drop = changes.volume_event(hour=at, actual=0, expected=1000.0, lower=750.0, upper=1250.0, verdict="drop")
    found = groups.alert_change(drop)
    assert (found.ends, found.opens, found.from_status) == ("volume_anomaly", "volume_anomaly", None)
    assert found.reason is not None
    assert found.reason["code"] == "drop"
    assert "0 events delivered" in found.reason["text"]
