"""The group pass reads a group only when it is due or woken (SPEC §7.4 at fleet scale): the
``next_look`` a look stores must leave nothing undone in between. For any group, rule, alerts,
silences and maintenance windows, a look at any instant after this one and before its
``next_look`` (with no change in between, which would wake the group) sends nothing, closes
nothing and tells the same alerts — so reading the group only at ``next_look`` decides exactly
what reading it on every pass would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipepulse.alerts import group_look, silences
from pipepulse.alerts.maintenance import Window

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night Europe/Berlin springs forward
MINUTE = timedelta(minutes=1)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Any, Any, list[Any], dict[int, Any]]:
    rule = SimpleNamespace(
        events=draw(st.sampled_from([{"status:error"}, {"status:error", "recovered"}])),
        min_duration_seconds=draw(st.sampled_from([0, 60, 300])),
        group_wait_seconds=draw(st.sampled_from([0, 10, 120])),
        group_interval_seconds=draw(st.sampled_from([0, 60, 300])),
        repeat_interval_seconds=draw(st.sampled_from([0, 600, 3600])),
    )
    alerts = []
    for i in range(draw(st.integers(0, 4))):
        started = T0 - draw(st.integers(0, 30)) * MINUTE
        ended = None
        if draw(st.booleans()):
            ended = min(T0, started + draw(st.integers(1, 40)) * MINUTE)
        alerts.append(
            SimpleNamespace(
                id=f"alr_{i}",
                organisation_id=1 + i % 2,
                condition="error",
                labels={"connection": f"wc_{i}", "condition": "error"},
                started_at=started,
                ended_at=ended,
            )
        )
    found = [
        silences.Silence(
            f"sil_{k}", {"connection": f"wc_{c}"}, T0 + start * MINUTE, T0 + (start + length) * MINUTE
        )
        for k, (c, start, length) in enumerate(
            draw(
                st.lists(st.tuples(st.integers(0, 3), st.integers(-60, 60), st.integers(1, 120)), max_size=3)
            )
        )
    ]
    windows = [
        Window(f"mtw_{k}", {"connection": f"wc_{c}"}, zone, list(range(7)), f"{hh:02d}:{mm:02d}", length)
        for k, (c, zone, hh, mm, length) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        st.integers(0, 3),
                        st.sampled_from(["UTC", "Europe/Berlin"]),
                        st.integers(0, 3),
                        st.sampled_from([0, 15, 30, 45]),
                        st.integers(1, 120),
                    ),
                    max_size=2,
                )
            )
        )
    ]
    # Organisation 1's own silences; organisation 2 has the windows; both see the platform's
    # (here: none besides).
    silencers: dict[int, Any] = {1: (found, []), 2: ([], windows)}
    ids = [a.id for a in alerts]
    notified = None
    last = None
    if alerts and draw(st.booleans()):
        notified = [[i, draw(st.booleans())] for i in draw(st.lists(st.sampled_from(ids), unique=True))]
        last = T0 - draw(st.integers(0, 120)) * MINUTE
    acknowledged = None
    if notified is not None and draw(st.booleans()):
        acknowledged = T0 - draw(st.integers(0, 120)) * MINUTE
    group = SimpleNamespace(
        first_fired_at=min((a.started_at for a in alerts), default=T0 - 30 * MINUTE),
        notified=notified,
        last_notified_at=last,
        acknowledged_at=acknowledged,
    )
    return group, rule, alerts, silencers


@settings(max_examples=400, deadline=None)
@given(world=worlds(), fraction=st.floats(0, 1, exclude_min=True, exclude_max=True))
def test_group_look__before_next_look__nothing_to_do(
    world: tuple[Any, Any, list[Any], dict[int, Any]], fraction: float
) -> None:
    group, rule, alerts, silencers = world
    first = group_look.look(group, rule, alerts, silencers, T0)
    if first.close:
        return
    if first.send:  # what the pass wrote
        group.notified = sorted([a, f] for a, f in first.current)
        group.last_notified_at = T0
    horizon = first.next_look if first.next_look is not None else T0 + timedelta(days=2)
    assert horizon > T0
    at = T0 + (horizon - T0) * fraction
    if not T0 < at < horizon:  # a fraction so near 0 or 1 that it rounds onto an end
        return
    later = group_look.look(group, rule, alerts, silencers, at)
    assert not later.send
    assert not later.close
    assert [a.id for a in later.told] == [a.id for a in first.told]


def test_group_look__next_look__the_earliest_of_timing_join_and_silence() -> None:
    rule = SimpleNamespace(
        events={"status:error"},
        min_duration_seconds=300,
        group_wait_seconds=10,
        group_interval_seconds=60,
        repeat_interval_seconds=3600,
    )
    held = SimpleNamespace(
        id="alr_1",
        organisation_id=1,
        condition="error",
        labels={"connection": "wc_1"},
        started_at=T0 - 2 * MINUTE,
        ended_at=None,
    )
    group = SimpleNamespace(
        first_fired_at=held.started_at, notified=None, last_notified_at=None, acknowledged_at=None
    )
    joins = group_look.look(group, rule, [held], {1: ([], [])}, T0)
    assert (joins.send, joins.close, joins.told) == (False, False, ())
    assert joins.next_look == held.started_at + 5 * MINUTE
    silence = silences.Silence("sil_1", {"connection": "wc_1"}, T0 - MINUTE, T0 + MINUTE)
    silenced = group_look.look(group, rule, [held], {1: ([silence], [])}, T0)
    assert silenced.marks == {"alr_1": ["sil_1"]}
    assert silenced.next_look == T0 + MINUTE
    # Joined and told: the next look is the repeat, and a group whose alerts are all gone closes.
    told = group_look.look(group, rule, [held], {1: ([], [])}, T0 + 10 * MINUTE)
    assert told.send
    assert told.next_look == T0 + 10 * MINUTE + timedelta(seconds=3600)
    assert group_look.look(group, rule, [], {}, T0).close


def rule_of(events: set[str], **timing: int) -> Any:
    return SimpleNamespace(
        events=events,
        min_duration_seconds=0,
        group_wait_seconds=timing.get("wait", 0),
        group_interval_seconds=timing.get("interval", 60),
        repeat_interval_seconds=timing.get("repeat", 3600),
    )


def alert(i: int, ended: datetime | None = None) -> Any:
    return SimpleNamespace(
        id=f"alr_{i}",
        organisation_id=1,
        condition="error",
        labels={"connection": f"wc_{i}"},
        started_at=T0 - 30 * MINUTE,
        ended_at=ended,
    )


def told(
    notified: list[list[Any]] | None, last: datetime | None = None, acked: datetime | None = None
) -> Any:
    return SimpleNamespace(
        first_fired_at=T0 - 30 * MINUTE, notified=notified, last_notified_at=last, acknowledged_at=acked
    )


NONE: dict[int, Any] = {1: ([], [])}


def test_group_look__resolved_alert__told_only_when_the_rule_asks_then_the_group_closes() -> None:
    ended = alert(1, ended=T0 - 5 * MINUTE)
    group = told([["alr_1", True]], last=T0 - 20 * MINUTE)
    asked = group_look.look(group, rule_of({"status:error", "recovered"}), [ended], NONE, T0)
    assert (asked.send, asked.close, asked.current) == (True, True, frozenset({("alr_1", False)}))
    # Not asked: the alert leaves the group unsaid, and the group closes without a word.
    unasked = group_look.look(group, rule_of({"status:error"}), [ended], NONE, T0)
    assert (unasked.send, unasked.close, unasked.told) == (False, True, ())
    # Another alert still firing: the quiet one is dropped from what was told, nothing is due.
    firing = alert(2)
    both = told([["alr_1", True], ["alr_2", True]], last=T0 - 20 * MINUTE)
    kept = group_look.look(both, rule_of({"status:error"}), [ended, firing], NONE, T0)
    assert (kept.send, kept.close, kept.current) == (False, False, frozenset({("alr_2", True)}))
    assert kept.next_look == T0 - 20 * MINUTE + timedelta(seconds=3600)


def test_group_look__resolved_before_group_wait__closes_without_a_word() -> None:
    ended = alert(1, ended=T0 - MINUTE)
    quiet = group_look.look(told(None), rule_of({"status:error", "recovered"}, wait=3600), [ended], NONE, T0)
    assert (quiet.send, quiet.close) == (False, True)


def test_group_look__acknowledged__no_repeat_until_it_changes() -> None:
    firing = alert(1)
    last = T0 - 2 * 3600 * timedelta(seconds=1)
    repeats = group_look.look(
        told([["alr_1", True]], last=last), rule_of({"status:error"}), [firing], NONE, T0
    )
    assert repeats.send
    for acked in (last, last + MINUTE):  # acknowledged at or after the last notification
        held = group_look.look(
            told([["alr_1", True]], last=last, acked=acked), rule_of({"status:error"}), [firing], NONE, T0
        )
        assert (held.send, held.next_look) == (False, None)
    before = told([["alr_1", True]], last=last, acked=last - MINUTE)  # acknowledged before it: repeats
    assert group_look.look(before, rule_of({"status:error"}), [firing], NONE, T0).send


def test_group_look__min_duration__wait_counts_from_the_join_and_a_short_alert_never_joins() -> None:
    rule = SimpleNamespace(
        events={"status:error", "recovered"},
        min_duration_seconds=300,
        group_wait_seconds=60,
        group_interval_seconds=60,
        repeat_interval_seconds=3600,
    )
    lasting = SimpleNamespace(
        id="alr_1", organisation_id=1, condition="error", labels={}, started_at=T0 - 6 * MINUTE, ended_at=None
    )
    group = SimpleNamespace(
        first_fired_at=lasting.started_at, notified=None, last_notified_at=None, acknowledged_at=None
    )
    waiting = group_look.look(group, rule, [lasting], NONE, T0 - 30 * timedelta(seconds=1))
    assert (waiting.send, waiting.next_look) == (False, T0)  # joined at T0 - 1 min, waits 1 min
    assert group_look.look(group, rule, [lasting], NONE, T0).send
    short = SimpleNamespace(
        id="alr_2",
        organisation_id=1,
        condition="error",
        labels={},
        started_at=T0 - 10 * MINUTE,
        ended_at=T0 - 8 * MINUTE,
    )
    never = group_look.look(group, rule, [short], NONE, T0)
    assert (never.send, never.close, never.told) == (False, True, ())
