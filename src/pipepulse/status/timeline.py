"""SPEC §7.1 as pure functions: a connection's runs → its status timeline, incidents, uptime, MTTR.

§3 makes the status a function of the runs and the instant. A run counts from its finished
time ``T`` (its ``completed_at``, or for an orphan ``started_at`` + orphan window) and leaves
the 24-hour window at ``T + 24h``, so the status can only change at those instants: the
timeline evaluates §3 at each of them (with :func:`pipepulse.rules.status`, the one rule) and
merges equal neighbours. Every instant is exact to the microsecond.

History is "as the runs now stand": a run that has not finished at ``t`` (still running, or
completed later than ``t``) does not count at ``t``; a late report that completes an orphan
replaces the orphan for good, so the run counts only from its ``completed_at``.

No I/O and no clock: callers hand in the runs and the instants. Imports only
:mod:`pipepulse.rules` (and the wording beside it, :mod:`pipepulse.status.reasons`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from itertools import accumulate
from typing import Protocol

from pipepulse.rollups.plan import TICK
from pipepulse.rules import (
    DAY,
    FAILING,
    STATUSES,
    Outcome,
    Status,
    Thresholds,
    completed_outcome,
    error_message,
    finished_time,
    status,
)
from pipepulse.status.reasons import Reason, status_reason

__all__ = ["TICK"]


class RunLike(Protocol):
    """A stored run as the timeline reads it (``db.run_rows.RunRow`` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def started_at(self) -> datetime: ...

    @property
    def completed_at(self) -> datetime | None: ...

    @property
    def events_delivered(self) -> int: ...

    @property
    def batches_dlq(self) -> int: ...

    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """A run from the instant it finishes: ``time`` is when it starts to count."""

    id: str
    time: datetime
    started_at: datetime
    completed_at: datetime | None
    outcome: Outcome
    events_delivered: int
    message: str | None  # the §3 recent_errors message of a failing run

    @property
    def failing(self) -> bool:
        return self.outcome in FAILING


def finished_run(
    run_id: str,
    started_at: datetime,
    completed_at: datetime | None,
    events_delivered: int,
    batches_dlq: int,
    error: str | None,
    orphan_window: timedelta,
) -> FinishedRun:
    """One run as it finishes (see :func:`finished_runs`)."""
    outcome: Outcome = "orphaned" if completed_at is None else completed_outcome(error, batches_dlq)
    return FinishedRun(
        run_id,
        finished_time(started_at, completed_at, orphan_window),
        started_at,
        completed_at,
        outcome,
        events_delivered if completed_at is not None else 0,
        None if outcome == "succeeded" else error_message(outcome, error, batches_dlq, orphan_window),
    )


def in_order(runs: Iterable[FinishedRun]) -> list[FinishedRun]:
    """Oldest first in §3's order of "latest": finished time, then start, then id."""
    return sorted(runs, key=lambda r: (r.time, r.started_at, r.id))


def finished_runs(runs: Iterable[RunLike], orphan_window: timedelta) -> list[FinishedRun]:
    """Each run as it finishes, oldest first in §3's order of "latest" (time, start, id).

    A run that has not completed is an orphan from ``started_at + orphan_window`` on (before
    that instant it is pending and does not count); a completed one counts from
    ``completed_at``.
    """
    return in_order(
        finished_run(
            r.id, r.started_at, r.completed_at, r.events_delivered, r.batches_dlq, r.error, orphan_window
        )
        for r in runs
    )


def run_kind(run: FinishedRun) -> int:
    """What §3's rule sees of a run: failing or not, and whether it delivered events."""
    return 2 * run.failing + (run.completed_at is not None and run.events_delivered > 0)


def change_points(runs: Sequence[FinishedRun], error_runs: int) -> list[FinishedRun]:
    """The runs (oldest first, of ``runs`` in time order) that a timeline needs of them.

    A run is left out when it is of the same kind (:func:`run_kind`) as both its neighbours,
    finished on the same UTC day as both, and is not among the first ``error_runs`` of a
    failing streak. The status at every instant is then the same as from every run: each
    kind stays in the 24-hour window exactly as long (kept neighbours of one kind are less
    than a day apart, or were neighbours already), the newest run in the window keeps its
    kind, and a streak reaches ``error_runs`` failing runs at the same run. The first and
    last run of each kind are kept, so is each streak's first run and the latest delivery.
    This is the rule ``status.repository.change_point_runs`` applies in SQL.
    """
    kept: list[FinishedRun] = []
    last = len(runs) - 1
    streak = 0
    for i, run in enumerate(runs):
        streak = streak + 1 if run.failing else 0
        kind, day = run_kind(run), run.time.date()
        if (
            i in (0, last)
            or (run.failing and streak <= error_runs)
            or kind != run_kind(runs[i - 1])
            or kind != run_kind(runs[i + 1])
            or day != runs[i - 1].time.date()
            or day != runs[i + 1].time.date()
        ):
            kept.append(run)
    return kept


@dataclass(frozen=True)
class Prior:
    """What finished before the runs handed in: only the wording of an idle status needs it."""

    last_delivery_at: datetime | None = None
    any_finished: bool = False


@dataclass(frozen=True)
class Basis:
    """The inputs §3's status rule was given at one instant (fields as ``StatusBasis``)."""

    latest_finished_failing: tuple[bool, ...]
    finished_runs_last_24h: int
    failing_runs_last_24h: int
    events_last_24h: int


@dataclass(frozen=True)
class State:
    """§3 at one instant: the status, the rule's inputs, and the history the reason words."""

    at: datetime
    status: Status
    basis: Basis
    last_delivery_at: datetime | None
    any_finished: bool
    newest: FinishedRun | None  # the newest run finished at or before ``at``
    failing_run_ids: tuple[str, ...]  # the failing runs the reason rests on, newest first

    def reason(self, *, now: datetime | None = None) -> Reason:
        """Why the status holds; pass ``now`` when this state is the present."""
        return status_reason(
            self.status,
            self.basis,
            last_delivery_at=self.last_delivery_at,
            any_finished=self.any_finished,
            now=now,
            runs=self.failing_run_ids if self.status in ("error", "degraded") else None,
        )


@dataclass(frozen=True)
class Interval:
    """``[start, end)`` with one status; ``reason`` is the one that held at ``start``."""

    status: Status
    start: datetime
    end: datetime
    reason: Reason
    opened_by: FinishedRun | None  # the newest finished run at ``start``

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class Timeline:
    """The status timeline over ``[start, end)``.

    ``held_before`` is true when the first interval's status already held just before
    ``start``: that interval is cut at ``start`` and really began earlier.
    """

    start: datetime
    end: datetime
    intervals: tuple[Interval, ...]
    held_before: bool
    runs: tuple[FinishedRun, ...]
    prior: Prior = Prior()  # what finished before the earliest of ``runs``
    history: _History | None = field(default=None, repr=False, compare=False)
    # Per run, the failing runs finished up to it (itself included) since the earliest of
    # ``runs``, counting runs left out of ``runs`` too (see :func:`change_points`).
    failing_upto: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def state(self, t: datetime) -> State:
        """§3 at ``t`` from this timeline's runs (exact for ``start - 1µs <= t <= end``)."""
        if self.history is None:
            raise ValueError("a Timeline made by timeline() carries its history")
        return self.history.state(t)

    def at(self, t: datetime) -> Interval:
        """The interval containing ``t`` (``start <= t < end``)."""
        if not self.start <= t < self.end:
            raise ValueError(f"{t} is outside the timeline [{self.start}, {self.end})")
        starts = [i.start for i in self.intervals]
        return self.intervals[bisect_right(starts, t) - 1]

    def clip(self, start: datetime, end: datetime) -> list[Interval]:
        """The intervals overlapping ``[start, end)``, cut to it (reasons unchanged)."""
        out = []
        for i in self.intervals:
            if i.end <= start or i.start >= end:
                continue
            out.append(Interval(i.status, max(i.start, start), min(i.end, end), i.reason, i.opened_by))
        return out

    @cached_property
    def _times(self) -> list[datetime]:
        return [r.time for r in self.runs]

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {r.id: n for n, r in enumerate(self.runs)}

    def index_of(self, run: FinishedRun) -> int:
        """Where ``run`` (one of this timeline's runs) stands in time order."""
        return self._positions[run.id]

    def count_before(self, t: datetime) -> int:
        """How many of ``runs`` finished before ``t``."""
        return bisect_left(self._times, t)

    def failing_before(self, t: datetime) -> int:
        """Failing runs finished before ``t`` since the earliest of ``runs`` (exact when the
        newest run finished before ``t`` is one of ``runs``)."""
        i = self.count_before(t)
        return self.failing_upto[i - 1] if i > 0 else 0

    def failing_between(self, start: datetime, end: datetime) -> int:
        """Failing runs that finished in ``[start, end)``."""
        return self.failing_before(end) - self.failing_before(start)


class _History:
    """Runs sorted by finished time with prefix sums: §3 at any instant in O(log n)."""

    def __init__(self, runs: Sequence[FinishedRun], thresholds: Thresholds, prior: Prior) -> None:
        self.runs = runs
        self.k = thresholds.error_status_runs
        self.failing_limit = thresholds.recent_errors_limit
        self.prior = prior
        self.times = [r.time for r in runs]
        self.leaving = [t + DAY for t in self.times]  # when each run leaves the 24h window
        # Prefix sums over the runs in order: failing runs, events, the latest delivery; and
        # the failing flags of the k runs up to each index, newest first.
        self.failing = [0]
        self.events = [0]
        self.latest: list[tuple[bool, ...]] = [()]
        # The k newest flags after a failing or a succeeding run, per previous flags: a few
        # shared tuples instead of two new ones per run.
        following: dict[tuple[bool, ...], tuple[tuple[bool, ...], tuple[bool, ...]]] = {}
        k = self.k
        previous: tuple[bool, ...] = ()
        failing_sum = events_sum = 0
        for r in runs:
            step = following.get(previous)
            if step is None:
                step = following[previous] = (((False, *previous))[:k], ((True, *previous))[:k])
            previous = step[r.failing]
            self.latest.append(previous)
            failing_sum += r.failing
            events_sum += r.events_delivered
            self.failing.append(failing_sum)
            self.events.append(events_sum)

    def last_delivery(self, hi: int) -> datetime | None:
        """The latest delivery among the first ``hi`` runs, else before them (``prior``)."""
        if self.events[hi] == 0:
            return self.prior.last_delivery_at
        # Runs are in time order and a delivery's time is its completed_at: the last run that
        # added events is the latest delivery.
        return self.runs[bisect_left(self.events, self.events[hi]) - 1].completed_at

    def window(self, t: datetime) -> tuple[int, int]:
        """Index range of the runs in §3's window ``(t - 24h, t]``."""
        return bisect_right(self.leaving, t), bisect_right(self.times, t)

    def status(self, lo: int, hi: int) -> Status:
        return status(
            self.latest[hi][: hi - lo],
            self.failing[hi] > self.failing[lo],
            self.events[hi] - self.events[lo],
        )

    def state(self, t: datetime) -> State:
        lo, hi = self.window(t)
        latest = self.runs[max(lo, hi - self.k) : hi][::-1]
        current = self.status(lo, hi)
        if current == "error":
            failing_ids = tuple(r.id for r in latest)
        elif current == "degraded":
            newest_failing = (r.id for r in reversed(self.runs[lo:hi]) if r.failing)
            failing_ids = tuple(x for _, x in zip(range(self.failing_limit), newest_failing, strict=False))
        else:
            failing_ids = ()
        return State(
            at=t,
            status=current,
            basis=Basis(
                latest_finished_failing=tuple(r.failing for r in latest),
                finished_runs_last_24h=hi - lo,
                failing_runs_last_24h=self.failing[hi] - self.failing[lo],
                events_last_24h=self.events[hi] - self.events[lo],
            ),
            last_delivery_at=self.last_delivery(hi),
            any_finished=self.prior.any_finished or hi > 0,
            newest=self.runs[hi - 1] if hi > 0 else None,
            failing_run_ids=failing_ids,
        )


def state_at(
    runs: Sequence[FinishedRun], at: datetime, thresholds: Thresholds, prior: Prior | None = None
) -> State:
    """§3 at the instant ``at``, as ``telemetry.service.statuses`` answers it.

    ``runs`` (from :func:`finished_runs`) must hold every run finished in ``(at - 24h, at]``;
    earlier ones may be there too, later ones are ignored. ``prior`` describes what finished
    before the earliest run handed in.
    """
    return _History(runs, thresholds, prior or Prior()).state(at)


def timeline(
    runs: Sequence[FinishedRun],
    start: datetime,
    end: datetime,
    thresholds: Thresholds,
    prior: Prior | None = None,
    failing_upto: Sequence[int] | None = None,
) -> Timeline:
    """The status timeline over ``[start, end)``, exact to the microsecond.

    ``runs`` (from :func:`finished_runs`, oldest first) must hold every run finished in
    ``[start - 24h - 1µs, end)``; earlier ones may be there too. ``prior`` describes what
    finished before the earliest run handed in. Each interval's reason is the one that held
    when the interval began (for a first interval cut at ``start``, at ``start``).

    Or ``runs`` holds only the :func:`change_points` of those runs, with every run of the 24
    hours before each interval's start (and before ``start``), and ``failing_upto`` the failing
    runs finished up to each of them counting the runs left out: the timeline is the same.
    """
    if not start < end:
        raise ValueError("a timeline needs start < end")
    if failing_upto is None:
        failing_upto = list(accumulate(int(r.failing) for r in runs))
    history = _History(runs, thresholds, prior or Prior())
    intervals: list[Interval] = []

    def begin(t: datetime, now_status: Status) -> None:
        if intervals:
            last = intervals[-1]
            intervals[-1] = Interval(last.status, last.start, t, last.reason, last.opened_by)
        state = history.state(t)
        intervals.append(Interval(now_status, t, end, state.reason(), state.newest))

    # One sweep over the instants where a run enters the window (its time) or leaves it (its
    # time + 24h), in order, evaluating §3's rule at each: the hot loop, hence the locals.
    times, leaving, n = history.times, history.leaving, len(history.times)
    latest, failing, events = history.latest, history.failing, history.events
    lo, hi = history.window(start)
    current = status(latest[hi][: hi - lo], failing[hi] > failing[lo], events[hi] - events[lo])
    begin(start, current)
    while True:
        t = times[hi] if hi < n else None
        if lo < n and (t is None or leaving[lo] < t):
            t = leaving[lo]
        if t is None or t >= end:
            break
        while hi < n and times[hi] == t:
            hi += 1
        while lo < n and leaving[lo] == t:
            lo += 1
        now_status = status(latest[hi][: hi - lo], failing[hi] > failing[lo], events[hi] - events[lo])
        if now_status != current:
            begin(t, now_status)
            current = now_status
    before = history.status(*history.window(start - TICK))
    return Timeline(
        start,
        end,
        tuple(intervals),
        before == intervals[0].status,
        tuple(runs),
        history.prior,
        history,
        tuple(failing_upto),
    )


def reasoned(
    rough: Timeline, runs: Sequence[FinishedRun], thresholds: Thresholds, failing_upto: Sequence[int]
) -> Timeline:
    """The timeline of ``rough`` (made by :func:`timeline` from :func:`change_points` alone),
    its reasons and opening runs read at each interval's start from ``runs``: those change
    points with every run of the 24 hours before each interval's start (and before any other
    instant whose state is asked), ``failing_upto`` as :func:`timeline` takes it.

    The same as :func:`timeline` of ``runs``, without a second sweep: the change points
    already give every status and where it changes, and only the reasons count the runs."""
    history = _History(runs, thresholds, rough.prior)
    intervals = []
    for i in rough.intervals:
        state = history.state(i.start)
        intervals.append(Interval(i.status, i.start, i.end, state.reason(), state.newest))
    return Timeline(
        rough.start,
        rough.end,
        tuple(intervals),
        rough.held_before,
        tuple(runs),
        rough.prior,
        history,
        tuple(failing_upto),
    )


@dataclass(frozen=True)
class Incident:
    """A maximal interval in which the status is ``error``, with the failing streak that led
    into it (SPEC §7.1): the unbroken failing runs, in time order, that end with the run whose
    finish made the status ``error``."""

    started_at: datetime
    ended_at: datetime | None  # None while it is still open
    streak_started_at: datetime | None  # the time of the streak's first run
    first_error: str | None  # the message of the streak's first run
    first_error_run_id: str | None
    failing_runs: int  # failing runs from the streak's first run to the incident's end
    # The streak reaches the earliest run handed in while earlier runs finished: the caller
    # reads further back (see ``streak_before``) to find where it began.
    streak_cut: bool = False

    def duration(self, now: datetime) -> timedelta:
        """How long it lasted, or for an open incident how long it has lasted by ``now``."""
        return (self.ended_at or now) - self.started_at

    def extended(self, earlier: Sequence[FinishedRun]) -> Incident:
        """This incident with ``earlier`` failing runs (oldest first) prepended to its streak."""
        if not earlier:
            return self
        first = earlier[0]
        return replace(
            self,
            streak_started_at=first.time,
            first_error=first.message,
            first_error_run_id=first.id,
            failing_runs=self.failing_runs + len(earlier),
            streak_cut=False,
        )


def streak_before(runs: Sequence[FinishedRun], last: int) -> int:
    """The index of the first run of the unbroken failing streak ending at ``runs[last]``
    (``runs`` in time order; ``runs[last]`` failing)."""
    first = last
    while first > 0 and runs[first - 1].failing:
        first -= 1
    return first


def incident(history: Timeline, interval: Interval, *, is_open: bool) -> Incident:
    """The incident of one ``error`` interval of ``history``, with its failing streak as far as
    the runs handed in reach."""
    inside = history.failing_between(interval.start, interval.end)
    opener = interval.opened_by
    if opener is None:
        return Incident(interval.start, None if is_open else interval.end, None, None, None, inside)
    runs = history.runs
    last = history.index_of(opener)
    first = streak_before(runs, last)
    streak = runs[first : last + 1]
    # The streak's runs that finished before the interval began (the opener's time may be
    # its start, and then it is counted inside): all failing, from its first run to the newest
    # run finished before the start.
    newest_before = history.count_before(interval.start) - 1
    upto = history.failing_upto
    before = upto[newest_before] - upto[first] + 1 if newest_before >= first else 0
    return Incident(
        started_at=interval.start,
        ended_at=None if is_open else interval.end,
        streak_started_at=streak[0].time,
        first_error=streak[0].message,
        first_error_run_id=streak[0].id,
        failing_runs=before + inside,
        streak_cut=first == 0 and history.prior.any_finished,
    )


def incidents(history: Timeline, *, open_at_end: bool) -> list[Incident]:
    """Each ``error`` interval of ``history`` as an incident.

    ``open_at_end``: the timeline ends at the present, so an error interval reaching its end
    is still open. An error interval cut at the timeline's start keeps the cut start: callers
    that need it whole widen the timeline first (see ``held_before``).
    """
    return [
        incident(history, i, is_open=open_at_end and i.end == history.end)
        for i in history.intervals
        if i.status == "error"
    ]


def time_in_status(intervals: Iterable[Interval], start: datetime, end: datetime) -> dict[Status, timedelta]:
    """Time spent in each status within ``[start, end)`` (every status present, healthiest first)."""
    spent = dict.fromkeys(STATUSES, timedelta(0))
    for i in intervals:
        overlap = min(i.end, end) - max(i.start, start)
        if overlap > timedelta(0):
            spent[i.status] += overlap
    return spent


def uptime_percent(intervals: Iterable[Interval], start: datetime, end: datetime) -> float:
    """100 * time not in ``error`` / length of ``[start, end)``, two decimals."""
    total = end - start
    down = time_in_status(intervals, start, end)["error"]
    return round(100 * (total - down) / total, 2)


def mttr(found: Iterable[Incident], start: datetime, end: datetime) -> timedelta | None:
    """Mean duration of the incidents that ended inside the range ``(start, end]``; None if none.

    An incident that ended exactly at ``start`` lies wholly before ``[start, end)``; one that
    ended at ``end`` lies inside it.
    """
    ended = [i.ended_at - i.started_at for i in found if i.ended_at is not None and start < i.ended_at <= end]
    if not ended:
        return None
    return sum(ended, timedelta(0)) / len(ended)
