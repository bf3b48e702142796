"""A stretch the hourly counts call steady really is steady: the oracle agrees at every instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pipepulse.status.steady import steady_since
from tests.conftest import property_timeout
from tests.history import oracle
from tests.history.oracle import DAY, WINDOW, Run

BASE = datetime(2026, 4, 1, tzinfo=UTC)
UNTIL = BASE + timedelta(days=5)
TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Counts:
    runs: int
    failing: int
    events: int


def hourly(runs: list[Run], until: datetime) -> dict[datetime, Counts]:
    out: dict[datetime, Counts] = {}
    for r in runs:
        t = oracle.finished_at(r)
        if t >= until:
            continue
        hour = t.replace(minute=0, second=0, microsecond=0)
        c = out.get(hour, Counts(0, 0, 0))
        failing = oracle.outcome(r) in oracle.FAILING
        out[hour] = Counts(c.runs + 1, c.failing + failing, c.events + r.events_delivered)
    return out


@st.composite
def dense_histories(draw: st.DrawFn) -> list[Run]:
    """A run every `step` minutes for five days, some failing, some orphaned, some empty, with gaps."""
    step = draw(st.sampled_from([10, 20, 30, 60]))
    fail_every = draw(st.integers(2, 200))
    gap_from = draw(st.integers(0, 5 * 24 * 60 // step))
    gap_len = draw(st.sampled_from([0, 0, 3, 30, 200]))
    runs = []
    for i in range(5 * 24 * 60 // step):
        if gap_from <= i < gap_from + gap_len:
            continue
        at = BASE + timedelta(minutes=step * i + draw(st.integers(0, step - 1)))
        kind = draw(st.sampled_from(["ok"] * fail_every + ["failed", "orphan", "empty"]))
        if kind == "orphan":
            runs.append(Run(id=f"r{i:04d}", started_at=at - WINDOW))
        else:
            runs.append(
                Run(
                    id=f"r{i:04d}",
                    started_at=at - timedelta(minutes=1),
                    completed_at=at,
                    events_delivered=0 if kind in ("failed", "empty") else 10,
                    error="boom" if kind == "failed" else None,
                )
            )
    return runs


@property_timeout(seconds_per_example=1.5)  # five dense days per example: ≈ 0.5 s each on a busy machine
@given(runs=dense_histories(), data=st.data())
def test_steady_since__dense_history__status_holds_at_every_instant_from_then(
    runs: list[Run], data: st.DataObject
) -> None:
    status = oracle.status_at(runs, UNTIL - TICK)
    start = steady_since(status, hourly(runs, UNTIL), UNTIL, 3)  # type: ignore[arg-type]
    if start is None:
        return
    assert start < UNTIL
    changes = {
        c for r in runs for c in (oracle.finished_at(r), oracle.finished_at(r) + DAY) if start < c < UNTIL
    }
    probes = [start, *changes, *(c - TICK for c in changes if c - TICK >= start)]
    span = int((UNTIL - start) / timedelta(minutes=1))
    probes += [start + timedelta(minutes=data.draw(st.integers(0, span - 1))) for _ in range(10)]
    for t in probes:
        assert oracle.status_at(runs, t) == status, t


def test_steady_since__healthy_five_minute_runs__steady_once_a_window_holds_two_delivering_hours() -> None:
    runs = [
        Run(
            id=f"r{i}",
            started_at=BASE + timedelta(minutes=5 * i),
            completed_at=BASE + timedelta(minutes=5 * i + 1),
            events_delivered=3,
        )
        for i in range(5 * 24 * 12)
    ]
    # Windows may start up to 22 empty hours before the first run: from 02:00 on, every window
    # holds a whole hour with deliveries and none with a failure.
    assert steady_since("active", hourly(runs, UNTIL), UNTIL, 3) == BASE + timedelta(hours=2)


def test_steady_since__error_or_idle__never_claimed() -> None:
    assert steady_since("error", {BASE: Counts(1, 1, 0)}, UNTIL, 3) is None
    assert steady_since("idle", {BASE: Counts(1, 0, 0)}, UNTIL, 3) is None
