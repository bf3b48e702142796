"""The status timeline against the brute-force oracle: random histories, random instants.

Run times sit on a coarse grid (plus the odd microsecond) so that runs tie, a run's time
meets another's time + 24 h, and orphans finish exactly where other runs do: the cases
where an off-by-one would hide.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipepulse.rules import Thresholds
from pipepulse.status.reasons import Reason
from pipepulse.status.timeline import (
    TICK,
    Incident,
    Interval,
    Prior,
    Timeline,
    change_points,
    finished_runs,
    incidents,
    mttr,
    reasoned,
    state_at,
    time_in_status,
    timeline,
    uptime_percent,
)
from pipepulse.status.timeline import incident as incident_of
from tests.history import oracle
from tests.history.oracle import DAY, WINDOW, Run

BASE = datetime(2026, 4, 1, tzinfo=UTC)
SPAN = timedelta(days=4)
THRESHOLDS = Thresholds(orphan_window=WINDOW)


def _offset() -> st.SearchStrategy[timedelta]:
    grid = st.integers(min_value=0, max_value=int(SPAN / timedelta(minutes=15))).map(
        lambda n: timedelta(minutes=15 * n)
    )
    wobble = st.sampled_from([timedelta(0), timedelta(0), TICK, -TICK, timedelta(seconds=1)])
    return st.builds(lambda g, w: max(timedelta(0), g + w), grid, wobble)


@st.composite
def histories(draw: st.DrawFn) -> list[Run]:
    count = draw(st.integers(min_value=0, max_value=16))
    runs = []
    for i in range(count):
        kind = draw(st.sampled_from(["ok", "ok", "empty", "partial", "failed", "orphan", "late"]))
        at = BASE + draw(_offset())
        if kind == "orphan":
            # Never reported: an orphan from started_at + window on.
            runs.append(Run(id=f"r{i:02d}", started_at=at))
            continue
        if kind == "late":
            # Reported long after its orphan window: it counts only from completed_at.
            runs.append(Run(id=f"r{i:02d}", started_at=at, completed_at=at + WINDOW * 3, events_delivered=5))
            continue
        started = at - timedelta(minutes=draw(st.sampled_from([0, 5, 15, 30])))
        runs.append(
            Run(
                id=f"r{i:02d}",
                started_at=started,
                completed_at=at,
                events_delivered=0 if kind == "empty" else draw(st.integers(0, 100)),
                batches_dlq=draw(st.integers(1, 3)) if kind == "partial" else 0,
                error=f"boom {i}" if kind == "failed" else None,
            )
        )
    return runs


def _range(data: st.DataObject) -> tuple[datetime, datetime]:
    draw = data.draw
    a = BASE - DAY + draw(_offset()) + draw(_offset())
    b = a + draw(_offset()) + timedelta(minutes=1)
    return a, b


def _candidates(runs: list[Run], start: datetime, end: datetime) -> set[datetime]:
    """Where the oracle's answer could change: every finished time and that time + 24 h."""
    out = set()
    for r in runs:
        for t in (oracle.finished_at(r), oracle.finished_at(r) + DAY):
            if start < t < end:
                out.add(t)
    return out


@given(runs=histories(), data=st.data())
def test_timeline__random_history__each_instant_has_the_oracle_status(
    runs: list[Run], data: st.DataObject
) -> None:
    start, end = _range(data)
    history = timeline(finished_runs(runs, WINDOW), start, end, THRESHOLDS)

    span = int((end - start) / TICK)
    probes = [start, end - TICK] + [start + TICK * data.draw(st.integers(0, span - 1)) for _ in range(20)]
    probes += [t for c in _candidates(runs, start, end) for t in (c, c - TICK)]
    for t in probes:
        assert history.at(t).status == oracle.status_at(runs, t), t


@given(runs=histories(), data=st.data())
def test_timeline__random_history__boundaries_are_exactly_where_the_oracle_changes(
    runs: list[Run], data: st.DataObject
) -> None:
    start, end = _range(data)
    history = timeline(finished_runs(runs, WINDOW), start, end, THRESHOLDS)

    intervals = history.intervals
    assert intervals[0].start == start
    assert intervals[-1].end == end
    for before, after in itertools.pairwise(intervals):
        assert before.end == after.start
        assert before.status != after.status
    boundaries = {i.start for i in intervals[1:]}
    changes = {
        c
        for c in _candidates(runs, start, end)
        if oracle.status_at(runs, c) != oracle.status_at(runs, c - TICK)
    }
    assert boundaries == changes
    for i in intervals:
        assert i.reason.code == oracle.reason_code_at(runs, i.start)
    assert history.held_before == (oracle.status_at(runs, start - TICK) == oracle.status_at(runs, start))


@given(runs=histories(), data=st.data())
def test_incidents__random_history__are_the_maximal_error_intervals(
    runs: list[Run], data: st.DataObject
) -> None:
    start, end = _range(data)
    history = timeline(finished_runs(runs, WINDOW), start, end, THRESHOLDS)
    found = incidents(history, open_at_end=False)

    assert [(i.started_at, i.ended_at) for i in found] == [
        (i.start, i.end) for i in history.intervals if i.status == "error"
    ]
    for incident in found:
        assert incident.ended_at is not None
        assert oracle.status_at(runs, incident.started_at) == "error"
        opener = oracle.newest_at(runs, incident.started_at)
        assert opener is not None
        streak = oracle.streak_into(runs, opener)
        assert incident.streak_started_at == oracle.finished_at(streak[0])
        assert incident.first_error == oracle.message(streak[0])
        assert incident.first_error_run_id == streak[0].id
        assert incident.failing_runs == sum(
            1 for r in streak if oracle.finished_at(r) < incident.started_at
        ) + sum(
            1
            for r in runs
            if incident.started_at <= oracle.finished_at(r) < incident.ended_at
            and oracle.outcome(r) in oracle.FAILING
        )
        assert not incident.streak_cut

    spent = time_in_status(history.intervals, start, end)
    assert sum(spent.values(), timedelta(0)) == end - start
    assert uptime_percent(history.intervals, start, end) == round(
        100 * (end - start - spent["error"]) / (end - start), 2
    )
    ended = [i.ended_at - i.started_at for i in found if i.ended_at is not None and start < i.ended_at <= end]
    expected = sum(ended, timedelta(0)) / len(ended) if ended else None
    assert mttr(found, start, end) == expected


@given(runs=histories(), offset=_offset())
def test_state_at__random_instant__matches_the_oracle(runs: list[Run], offset: timedelta) -> None:
    at = BASE + offset
    state = state_at(finished_runs(runs, WINDOW), at, THRESHOLDS)

    day = oracle.in_day(runs, at)
    assert state.status == oracle.status_at(runs, at)
    assert state.basis.finished_runs_last_24h == len(day)
    assert state.basis.events_last_24h == sum(r.events_delivered for r in day)
    assert state.basis.latest_finished_failing == tuple(oracle.outcome(r) in oracle.FAILING for r in day[:3])
    deliveries = [
        r.completed_at for r in runs if r.completed_at and r.completed_at <= at and r.events_delivered
    ]
    assert state.last_delivery_at == max(deliveries, default=None)
    assert state.reason().code == oracle.reason_code_at(runs, at)


@given(runs=histories(), data=st.data())
def test_reasoned__timeline_of_the_change_points_with_every_run__the_timeline_of_every_run(
    runs: list[Run], data: st.DataObject
) -> None:
    # The status history sweeps the change points alone for the statuses, then words each
    # interval from the runs in hand: the same intervals, reasons and opening runs as a sweep
    # of every run, the same state at any instant of the range.
    every = finished_runs(runs, WINDOW)
    start, end = _range(data)
    prior = data.draw(st.sampled_from([Prior(), Prior(BASE - DAY, any_finished=True)]))
    rough = timeline(change_points(every, THRESHOLDS.error_status_runs), start, end, THRESHOLDS, prior)
    upto = list(itertools.accumulate(int(r.failing) for r in every))

    exact = reasoned(rough, every, THRESHOLDS, upto)
    full = timeline(every, start, end, THRESHOLDS, prior)

    assert exact == full
    assert exact.failing_upto == full.failing_upto
    span = int((end - start) / TICK)
    for t in [start - TICK, start, end - TICK, start + TICK * data.draw(st.integers(0, span - 1))]:
        assert exact.state(t) == full.state(t)


def test_timeline__late_report__the_orphan_never_was() -> None:
    # Started at 10:00, reported at 11:00: from 10:15 to 11:00 it was pending, not orphaned.
    run = Run(id="r1", started_at=BASE, completed_at=BASE + timedelta(hours=1), error="late and failed")
    history = timeline(finished_runs([run], WINDOW), BASE, BASE + timedelta(hours=2), THRESHOLDS)

    assert [(i.status, i.start) for i in history.intervals] == [
        ("idle", BASE),
        ("error", BASE + timedelta(hours=1)),
    ]
    assert history.intervals[1].reason.text == "The only run that finished in the last 24 hours was failing."


def test_timeline__orphan__counts_from_the_end_of_its_window() -> None:
    run = Run(id="r1", started_at=BASE)
    history = timeline(finished_runs([run], WINDOW), BASE, BASE + 2 * DAY, THRESHOLDS)

    assert [(i.status, i.start) for i in history.intervals] == [
        ("idle", BASE),
        ("error", BASE + WINDOW),
        ("idle", BASE + WINDOW + DAY),
    ]
    [incident] = incidents(history, open_at_end=False)
    assert incident.first_error == "loader did not report back within 15 minutes"
    assert incident.failing_runs == 1
    assert incident.duration(BASE) == DAY


def test_timeline__idle_reason__history_says_the_exact_time_of_the_last_delivery() -> None:
    delivered = Run(id="r1", started_at=BASE, completed_at=BASE + timedelta(minutes=5), events_delivered=9)
    history = timeline(
        finished_runs([delivered], WINDOW), BASE + DAY, BASE + 2 * DAY, THRESHOLDS, Prior(any_finished=True)
    )

    idle = history.intervals[-1]
    assert idle.reason.code == "no_events_24h"
    assert idle.reason.text == (
        "No run finished in the last 24 hours; the last delivery was at 2026-04-01 00:05:00 UTC."
    )


def test_incident__failures_before_the_error__carries_the_whole_failing_streak() -> None:
    # SPEC §7.1: "failing since 12:32, in error since 14:12, 20 failing runs" — with a threshold
    # of 20 runs, the 20th failure five minutes apart tips the status into error.
    thresholds = Thresholds(orphan_window=WINDOW, error_status_runs=20)
    good = Run(id="ok", started_at=BASE, completed_at=BASE + timedelta(hours=12), events_delivered=5)
    first = BASE + timedelta(hours=12, minutes=32)
    failures = [
        Run(
            id=f"f{i:02d}",
            started_at=first + timedelta(minutes=5 * i - 1),
            completed_at=first + timedelta(minutes=5 * i),
            error=f"refused after {30000 + i} ms",
        )
        for i in range(20)
    ]
    history = timeline(finished_runs([good, *failures], WINDOW), BASE, first + timedelta(hours=2), thresholds)
    [incident] = incidents(history, open_at_end=True)

    assert incident.started_at == first + timedelta(minutes=95)
    assert incident.streak_started_at == first
    assert incident.first_error == "refused after 30000 ms"
    assert incident.first_error_run_id == "f00"
    assert incident.failing_runs == 20
    assert not incident.streak_cut
    assert incident.ended_at is None  # still open at the timeline's end


def test_incident__streak_reaching_the_first_run_handed_in__says_it_is_cut() -> None:
    run = Run(id="f1", started_at=BASE, completed_at=BASE + timedelta(minutes=1), error="boom")
    history = timeline(
        finished_runs([run], WINDOW), BASE, BASE + timedelta(hours=1), THRESHOLDS, Prior(any_finished=True)
    )
    [incident] = incidents(history, open_at_end=True)
    assert incident.streak_cut
    earlier = finished_runs(
        [Run(id="f0", started_at=BASE - DAY * 2, completed_at=BASE - DAY * 2, error="older")], WINDOW
    )
    whole = incident.extended(earlier)
    assert (whole.first_error_run_id, whole.first_error, whole.failing_runs) == ("f0", "older", 2)
    assert whole.streak_started_at == BASE - DAY * 2
    assert whole.streak_cut is False
    assert incident.extended([]) is incident


def test_incident__streak_of_the_first_two_runs_handed_in__starts_at_the_first() -> None:
    runs = [
        Run(id=f"f{i}", started_at=BASE + i * WINDOW, completed_at=BASE + i * WINDOW, error=f"boom {i}")
        for i in range(2)
    ]
    history = timeline(finished_runs(runs, WINDOW), BASE, BASE + timedelta(hours=1), THRESHOLDS)
    [found] = incidents(history, open_at_end=False)
    assert (found.first_error_run_id, found.streak_started_at, found.failing_runs) == ("f0", BASE, 2)
    assert found.ended_at == BASE + timedelta(hours=1)


def test_incident__error_interval_without_the_run_that_opened_it__times_and_failing_runs_only() -> None:
    runs = [Run(id="f0", started_at=BASE, completed_at=BASE + timedelta(minutes=10), error="boom")]
    history = timeline(finished_runs(runs, WINDOW), BASE, BASE + timedelta(hours=1), THRESHOLDS)
    cut = Interval("error", BASE, BASE + timedelta(hours=1), history.intervals[-1].reason, None)
    assert incident_of(history, cut, is_open=False) == Incident(
        BASE, BASE + timedelta(hours=1), None, None, None, 1
    )
    assert incident_of(history, cut, is_open=True) == Incident(BASE, None, None, None, None, 1)


def test_timeline__clip__keeps_the_run_that_opened_each_interval() -> None:
    runs = [Run(id="f0", started_at=BASE, completed_at=BASE + timedelta(minutes=10), error="boom")]
    history = timeline(finished_runs(runs, WINDOW), BASE, BASE + timedelta(hours=1), THRESHOLDS)
    [_, error] = history.clip(BASE + timedelta(minutes=5), BASE + timedelta(minutes=50))
    assert (error.start, error.end) == (BASE + timedelta(minutes=10), BASE + timedelta(minutes=50))
    assert error.opened_by is not None
    assert error.opened_by.id == "f0"


def test_timeline__made_by_hand__state_says_it_needs_its_history() -> None:
    bare = Timeline(BASE, BASE + DAY, (), held_before=False, runs=())
    with pytest.raises(ValueError, match=r"^a Timeline made by timeline\(\) carries its history$"):
        bare.state(BASE)


def test_incident__failing_run_a_day_after_the_first__its_streak_starts_at_the_first() -> None:
    # f0 leaves the window (idle), then f1 opens a second incident: no run came between
    # them, so its failing streak began with f0.
    runs = [
        Run(id="f0", started_at=BASE, completed_at=BASE, error="first"),
        Run(id="f1", started_at=BASE + DAY + WINDOW, completed_at=BASE + DAY + WINDOW, error="second"),
    ]
    history = timeline(finished_runs(runs, WINDOW), BASE, BASE + 2 * DAY, THRESHOLDS)
    [one, two] = incidents(history, open_at_end=True)
    assert (one.started_at, one.ended_at, one.first_error_run_id) == (BASE, BASE + DAY, "f0")
    assert (two.started_at, two.ended_at) == (BASE + DAY + WINDOW, None)
    assert (two.first_error_run_id, two.first_error, two.streak_started_at) == ("f0", "first", BASE)
    assert two.failing_runs == 2


def test_mttr__incident_ended_exactly_at_the_range_start__not_in_the_range() -> None:
    runs = [Run(id="f0", started_at=BASE, completed_at=BASE, error="boom")]
    history = timeline(finished_runs(runs, WINDOW), BASE, BASE + 2 * DAY, THRESHOLDS)
    [found] = incidents(history, open_at_end=True)
    assert found.ended_at == BASE + DAY
    assert mttr([found], BASE + DAY, BASE + 2 * DAY) is None
    assert mttr([found], BASE + DAY - TICK, BASE + 2 * DAY) == DAY


def test_mttr__two_incidents_ended_in_the_range__the_mean_of_their_durations() -> None:
    # An hour's incident and a three hours' one: mean time to recovery two hours, not the sum
    # times the count; an incident still open is not in the mean.
    def ended(started: datetime, hours: int) -> Incident:
        return Incident(started, started + timedelta(hours=hours), started, "boom", "f0", 3)

    one, three = ended(BASE, 1), ended(BASE + DAY, 3)
    still_open = Incident(BASE + 2 * DAY, None, BASE + 2 * DAY, "boom", "f1", 3)
    assert mttr([one, three, still_open], BASE, BASE + SPAN) == timedelta(hours=2)


def test_timeline__at_its_end__outside_the_half_open_range() -> None:
    history = timeline([], BASE, BASE + DAY, THRESHOLDS)
    assert history.at(BASE + DAY - TICK).status == "idle"
    with pytest.raises(ValueError, match=r"is outside the timeline \["):
        history.at(BASE + DAY)


def test_timeline__empty_range__refused_saying_why() -> None:
    with pytest.raises(ValueError, match=r"^a timeline needs start < end$"):
        timeline([], BASE, BASE, THRESHOLDS)


def test_timeline__run_leaving_the_window_at_its_end__no_interval_begins_at_the_end() -> None:
    runs = [Run(id="f0", started_at=BASE, completed_at=BASE, error="boom")]
    history = timeline(finished_runs(runs, WINDOW), BASE, BASE + DAY, THRESHOLDS)
    assert [(i.status, i.start, i.end) for i in history.intervals] == [("error", BASE, BASE + DAY)]


def test_timeline__run_finishing_a_microsecond_after_the_start__held_before_only_when_it_is_after() -> None:
    run = Run(id="r1", started_at=BASE, completed_at=BASE + TICK, events_delivered=3)
    finished = finished_runs([run], WINDOW)

    before_the_run = timeline(finished, BASE, BASE + DAY, THRESHOLDS)
    assert [(i.status, i.start, i.end) for i in before_the_run.intervals] == [
        ("idle", BASE, BASE + TICK),
        ("active", BASE + TICK, BASE + DAY),
    ]
    assert before_the_run.held_before  # idle just before BASE too

    at_the_run = timeline(finished, BASE + TICK, BASE + DAY, THRESHOLDS)
    assert [(i.status, i.start, i.end) for i in at_the_run.intervals] == [("active", BASE + TICK, BASE + DAY)]
    assert not at_the_run.held_before  # idle one microsecond before: active began at the start


def test_state__reason_of_the_present__says_how_long_ago_the_last_delivery_was() -> None:
    delivered = Run(id="r1", started_at=BASE, completed_at=BASE + timedelta(minutes=5), events_delivered=9)
    now = BASE + 3 * DAY
    state = state_at(finished_runs([delivered], WINDOW), now, THRESHOLDS)

    assert state.reason(now=now) == Reason(
        "no_events_24h", "No run finished in the last 24 hours; the last delivery was 2 days ago."
    )
    assert state.reason() == Reason(
        "no_events_24h",
        "No run finished in the last 24 hours; the last delivery was at 2026-04-01 00:05:00 UTC.",
    )


def test_timeline__failing_intervals__reasons_name_the_failing_runs_newest_first() -> None:
    hour = timedelta(hours=1)
    runs = [
        Run(id="ok", started_at=BASE, completed_at=BASE + hour, events_delivered=4),
        *(
            Run(id=f"f{i}", started_at=BASE, completed_at=BASE + (1 + i) * hour, error=f"boom {i}")
            for i in (1, 2, 3)
        ),
    ]
    history = timeline(finished_runs(runs, WINDOW), BASE, BASE + 6 * hour, THRESHOLDS)

    assert [(i.status, i.start, i.end, i.reason) for i in history.intervals] == [
        ("idle", BASE, BASE + hour, Reason("no_runs_yet", "Nothing delivered yet: no run has finished.")),
        (
            "active",
            BASE + hour,
            BASE + 2 * hour,
            Reason("delivering", "4 events delivered in the last 24 hours by 1 run, none failing."),
        ),
        (
            "degraded",
            BASE + 2 * hour,
            BASE + 4 * hour,
            Reason(
                "failing_runs_24h",
                "1 run of 2 that finished in the last 24 hours was failing; the latest run failed,"
                " but 1 of the last 2 succeeded.",
                ("f1",),
            ),
        ),
        (
            "error",
            BASE + 4 * hour,
            BASE + 6 * hour,
            Reason("latest_runs_failing", "The last 3 finished runs were all failing.", ("f3", "f2", "f1")),
        ),
    ]


def test_timeline__failing_run_after_one_left_the_window__reason_counts_only_the_window() -> None:
    hour = timedelta(hours=1)
    runs = [
        Run(id="f0", started_at=BASE, completed_at=BASE, error="old"),
        Run(id="ok", started_at=BASE, completed_at=BASE + DAY + hour, events_delivered=2),
        Run(id="f1", started_at=BASE, completed_at=BASE + DAY + 2 * hour, error="new"),
    ]
    history = timeline(finished_runs(runs, WINDOW), BASE + DAY, BASE + DAY + 3 * hour, THRESHOLDS)

    assert [(i.status, i.start, i.reason) for i in history.intervals] == [
        (
            "idle",
            BASE + DAY,
            Reason("no_events_24h", "Nothing delivered yet: no run has finished with events."),
        ),
        (
            "active",
            BASE + DAY + hour,
            Reason("delivering", "2 events delivered in the last 24 hours by 1 run, none failing."),
        ),
        (
            "degraded",
            BASE + DAY + 2 * hour,
            Reason(
                "failing_runs_24h",
                "1 run of 2 that finished in the last 24 hours was failing; the latest run failed,"
                " but 1 of the last 2 succeeded.",
                ("f1",),
            ),
        ),
    ]


def test_incident__streak_after_a_success_handed_in__not_cut_though_earlier_runs_finished() -> None:
    hour = timedelta(hours=1)
    runs = [
        Run(id="ok", started_at=BASE, completed_at=BASE + hour, events_delivered=1),
        *(
            Run(id=f"f{i}", started_at=BASE, completed_at=BASE + (1 + i) * hour, error="boom")
            for i in (1, 2, 3)
        ),
    ]
    history = timeline(
        finished_runs(runs, WINDOW), BASE, BASE + 6 * hour, THRESHOLDS, Prior(any_finished=True)
    )
    [found] = incidents(history, open_at_end=True)
    assert (found.started_at, found.ended_at, found.first_error_run_id, found.failing_runs) == (
        BASE + 4 * hour,
        None,
        "f1",
        3,
    )
    assert found.streak_cut is False  # the success handed in is where the streak began


def test_timeline__two_runs_finishing_together__the_later_started_is_the_latest() -> None:
    # §3's order of "latest": finished time, then start, then id; ids here run the other way.
    done = BASE + timedelta(hours=1)
    runs = [
        Run(id="a", started_at=BASE + timedelta(minutes=30), completed_at=done, error="boom"),
        Run(id="b", started_at=BASE, completed_at=done, events_delivered=2),
    ]
    thresholds = Thresholds(orphan_window=WINDOW, error_status_runs=1)
    history = timeline(finished_runs(runs, WINDOW), BASE, BASE + timedelta(hours=2), thresholds)
    assert [(i.status, i.start) for i in history.intervals] == [("idle", BASE), ("error", done)]
    assert history.intervals[-1].reason.runs == ("a",)


def test_timeline__orphan_that_reported_events__the_last_delivery_is_the_completed_run() -> None:
    runs = [
        Run(id="ok", started_at=BASE, completed_at=BASE + timedelta(minutes=5), events_delivered=3),
        Run(id="lost", started_at=BASE + timedelta(hours=1), events_delivered=5),
    ]
    history = timeline(finished_runs(runs, WINDOW), BASE + 3 * DAY, BASE + 4 * DAY, THRESHOLDS)
    assert [(i.status, i.reason) for i in history.intervals] == [
        (
            "idle",
            Reason(
                "no_events_24h",
                "No run finished in the last 24 hours; the last delivery was at 2026-04-01 00:05:00 UTC.",
            ),
        )
    ]
