"""A brute-force reading of SPEC §3 and §7.1, written from the spec text and independent of src/.

It answers "what is the status at instant t?" by looking at every run every time; the
timeline must agree with it at every instant, and change exactly where it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DAY = timedelta(hours=24)
WINDOW = timedelta(minutes=15)
FAILING = {"partial", "failed", "orphaned"}


@dataclass(frozen=True)
class Run:
    id: str
    started_at: datetime
    completed_at: datetime | None = None
    events_delivered: int = 0
    batches_dlq: int = 0
    error: str | None = None


def finished_at(run: Run, window: timedelta = WINDOW) -> datetime:
    """The instant a run starts to count: its completion, or the end of its orphan window."""
    return run.completed_at if run.completed_at is not None else run.started_at + window


def outcome(run: Run) -> str:
    if run.completed_at is None:
        return "orphaned"
    if run.error is not None:
        return "failed"
    return "partial" if run.batches_dlq else "succeeded"


def message(run: Run, window: timedelta = WINDOW) -> str | None:
    o = outcome(run)
    if o == "failed":
        return run.error or "run failed"
    if o == "orphaned":
        return f"loader did not report back within {int(window.total_seconds() // 60)} minutes"
    if o == "partial":
        batches = "batch" if run.batches_dlq == 1 else "batches"
        return f"{run.batches_dlq} {batches} moved to the dead-letter queue"
    return None


def in_day(runs: list[Run], t: datetime, window: timedelta = WINDOW) -> list[Run]:
    """Runs finished in (t - 24h, t], newest first (ties: later start, then larger id)."""
    found = [r for r in runs if t - DAY < finished_at(r, window) <= t]
    return sorted(found, key=lambda r: (finished_at(r, window), r.started_at, r.id), reverse=True)


def status_at(runs: list[Run], t: datetime, window: timedelta = WINDOW, error_runs: int = 3) -> str:
    day = in_day(runs, t, window)
    latest = day[:error_runs]
    if latest and all(outcome(r) in FAILING for r in latest):
        return "error"
    if any(outcome(r) in FAILING for r in day):
        return "degraded"
    if sum(r.events_delivered for r in day) > 0:
        return "active"
    return "idle"


def reason_code_at(runs: list[Run], t: datetime, window: timedelta = WINDOW) -> str:
    s = status_at(runs, t, window)
    if s == "error":
        return "latest_runs_failing"
    if s == "degraded":
        return "failing_runs_24h"
    if s == "active":
        return "delivering"
    if any(finished_at(r, window) <= t for r in runs):
        return "no_events_24h"
    return "no_runs_yet"


def newest_at(runs: list[Run], t: datetime, window: timedelta = WINDOW) -> Run | None:
    done = [r for r in runs if finished_at(r, window) <= t]
    return max(done, key=lambda r: (finished_at(r, window), r.started_at, r.id), default=None)


def streak_into(runs: list[Run], last: Run, window: timedelta = WINDOW) -> list[Run]:
    """The unbroken failing runs, in time order, that end with ``last`` (SPEC §7.1)."""
    ordered = sorted(runs, key=lambda r: (finished_at(r, window), r.started_at, r.id))
    streak: list[Run] = []
    for r in ordered[: ordered.index(last) + 1]:
        streak = [*streak, r] if outcome(r) in FAILING else []
    return streak
