"""Each kind of horizon on its own, where it is the one that comes first: the status holds
until the horizon and changes exactly at it (by the brute-force oracle)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipepulse.alerts.selection import Picked, Tracker, answer_horizon
from pipepulse.rollups.plan import TICK
from tests.alerts.test_selection_property import _edges, _inputs
from tests.history import oracle
from tests.history.oracle import DAY, WINDOW, Run
from tests.history.test_timeline_property import BASE

H = timedelta(hours=1)
LONG_SLA = timedelta(days=30)


def ok(i: int, at: timedelta, events: int = 10) -> Run:
    return Run(f"r{i}", BASE + at - timedelta(minutes=1), BASE + at, events_delivered=events)


def failed(i: int, at: timedelta) -> Run:
    return Run(f"r{i}", BASE + at - timedelta(minutes=1), BASE + at, error="boom")


CASES = {
    # Degraded by one old failure behind three newer successes: it leaving is what counts.
    "the newest failure leaves": ([failed(0, 0 * H), ok(1, H), ok(2, 2 * H), ok(3, 3 * H)], 4 * H, DAY),
    # Degraded; the oldest of the latest three (an empty success) leaves and only failures stay.
    "the n-th newest leaves": ([ok(0, 0 * H, events=0), failed(1, H), failed(2, 2 * H)], 3 * H, DAY),
    # Degraded by an orphan only: it leaves 24 hours after its orphan deadline.
    "an orphan leaves": (
        [Run("r0", BASE), ok(1, H), ok(2, 2 * H), ok(3, 3 * H)],
        4 * H,
        WINDOW + DAY,
    ),
    # A pending run becomes an orphan at its deadline: three successes, then degraded.
    "an orphan deadline": (
        [ok(1, 0 * H), ok(2, H), ok(3, 2 * H), Run("r4", BASE + 3 * H)],
        3 * H + timedelta(minutes=5),
        3 * H + WINDOW,
    ),
    # Error; an empty success reported with a completion ahead of the clock counts from then.
    "a completion ahead of the clock": (
        [failed(0, 0 * H), failed(1, H), failed(2, 2 * H), ok(3, 3 * H, events=0)],
        2 * H + timedelta(minutes=30),
        3 * H,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_horizon__the_first_kind_due__exactly_where_the_status_changes(name: str) -> None:
    runs, now_at, expected = CASES[name]
    now = BASE + now_at
    h = answer_horizon(_inputs(runs, BASE - DAY, LONG_SLA), _edges(runs, now), now, WINDOW)
    assert h == BASE + expected
    assert oracle.status_at(runs, h - TICK) == oracle.status_at(runs, now)
    assert oracle.status_at(runs, h) != oracle.status_at(runs, now)


def test_horizon__the_freshness_deadline__the_instant_the_sla_is_exceeded() -> None:
    runs = [ok(0, 0 * H)]
    now = BASE + timedelta(minutes=5)
    sla = timedelta(minutes=10)
    h = answer_horizon(_inputs(runs, BASE - DAY, sla), _edges(runs, now), now, WINDOW)
    assert h == BASE + sla + TICK


def test_tracker__visits_the_changed_and_the_due__then_forgets_the_gone() -> None:
    tracker = Tracker(full_every=timedelta(minutes=10))
    signatures = {"a": (1,), "b": (1,), "c": (1,)}
    assert tracker.choose(signatures, BASE) is None  # the first pass is a full one
    tracker.settle(Picked(None, signatures, {"a": BASE + H, "b": BASE + H, "c": BASE + 2 * TICK}), BASE, [])
    assert tracker.choose(signatures, BASE + TICK) == []
    assert tracker.choose({**signatures, "b": (2,)}, BASE + TICK) == ["b"]
    assert tracker.choose(signatures, BASE + 2 * TICK) == ["c"]
    assert tracker.choose({**signatures, "d": (1,)}, BASE + TICK) == ["d"]
    # A deferred connection stays due; a paused one is forgotten.
    tracker.settle(Picked(["b"], {"a": (1,), "b": (2,)}, {"b": BASE + H}), BASE + TICK, ["b"])
    assert tracker.choose({"a": (1,), "b": (2,)}, BASE + 2 * TICK) == ["b"]
    assert "c" not in tracker.signatures
    assert tracker.choose(signatures, BASE + 10 * timedelta(minutes=1)) is None  # the full pass is due
