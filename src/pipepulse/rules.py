"""The rules of SPEC §3, as pure functions of runs and ``now``: outcomes, windows, status.

Nothing here does I/O, reads the clock or imports anything else of pipepulse but its
:mod:`pipepulse.wording` (how a message reads): every package
asks this module, so a rule is written once. The services feed these functions with rows
(or rollups of rows) and the current time; the tests drive them with random histories
against a brute-force oracle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from pipepulse.wording import describe_duration, dlq_batches

Outcome = Literal["pending", "succeeded", "partial", "failed", "orphaned"]
Status = Literal["active", "degraded", "error", "idle"]

OUTCOMES: tuple[Outcome, ...] = ("pending", "succeeded", "partial", "failed", "orphaned")
FAILING: frozenset[str] = frozenset({"partial", "failed", "orphaned"})
# The one status order, healthiest first: a pipeline that delivers, one that has gone quiet,
# one that fails now and then, one that is broken. Sorting by status and "problems first"
# both read it.
STATUSES: tuple[Status, ...] = ("active", "idle", "degraded", "error")
DAY = timedelta(hours=24)
WEEK = timedelta(days=7)
OTHER = "other"
TOTAL = "total"


@dataclass(frozen=True)
class Thresholds:
    """The tunable numbers of SPEC §3, and how long the store keeps what they are read from (§8).

    The retention periods ride along here because every reader already receives its
    thresholds: a read beyond raw retention must know where the raw runs end.
    """

    orphan_window: timedelta = timedelta(minutes=15)
    error_status_runs: int = 3
    recent_errors_limit: int = 10
    run_retention: timedelta = timedelta(days=90)
    rollup_retention: timedelta = timedelta(days=400)


def completed_outcome(error: str | None, batches_dlq: int) -> Outcome:
    """The outcome of a run that reported back; it never changes afterwards."""
    if error is not None:
        return "failed"
    return "partial" if batches_dlq > 0 else "succeeded"


def run_outcome(
    *,
    started_at: datetime,
    completed_at: datetime | None,
    error: str | None,
    batches_dlq: int,
    now: datetime,
    orphan_window: timedelta,
) -> Outcome:
    if completed_at is not None:
        return completed_outcome(error, batches_dlq)
    return "orphaned" if is_orphaned(started_at, now, orphan_window) else "pending"


def is_orphaned(started_at: datetime, now: datetime, orphan_window: timedelta) -> bool:
    """A run that has not reported back by ``started_at + window`` is orphaned from then on."""
    return started_at + orphan_window <= now


def orphaned_before(now: datetime, orphan_window: timedelta) -> datetime:
    """Pending runs started at or before this instant are orphaned."""
    return now - orphan_window


def finished_time(started_at: datetime, completed_at: datetime | None, orphan_window: timedelta) -> datetime:
    """When a finished run counts: its completion, or for an orphan the end of its window."""
    return completed_at if completed_at is not None else started_at + orphan_window


def in_window(time: datetime, now: datetime, span: timedelta) -> bool:
    """Rolling window anchored at ``now``: ``now - span < time <= now``."""
    return now - span < time <= now


def is_failing(outcome: str) -> bool:
    return outcome in FAILING


def severity(status: str) -> int:
    """A status's place in :data:`STATUSES` (0 = healthiest)."""
    return STATUSES.index(status)


def run_latency_ms(latency_ms: int | None, started_at: datetime, completed_at: datetime) -> int:
    """SPEC §4.3: the reported latency, else the run's duration."""
    if latency_ms is not None:
        return latency_ms
    return max(0, int((completed_at - started_at).total_seconds() * 1000))


def orphan_message(orphan_window: timedelta) -> str:
    return f"loader did not report back within {describe_duration(orphan_window)}"


def dlq_message(batches_dlq: int) -> str:
    # Worded as SPEC §3 gives it ("N batches moved to the dead-letter queue"), in the
    # singular for one batch (docs/api.md).
    return dlq_batches(batches_dlq)


def error_message(outcome: str, error: str | None, batches_dlq: int, orphan_window: timedelta) -> str | None:
    """The ``recent_errors`` message of a failing run; None for a run that is not failing."""
    if outcome == "failed":
        return error or "run failed"
    if outcome == "orphaned":
        return orphan_message(orphan_window)
    if outcome == "partial":
        return dlq_message(batches_dlq)
    return None


def status(
    latest_finished_failing: Sequence[bool],
    any_failing_last_24h: bool,
    events_last_24h: int,
) -> Status:
    """SPEC §3's status, first rule that matches.

    ``latest_finished_failing`` holds, newest first, whether each of the latest finished
    runs of the last 24h (up to the ``error_status_runs`` threshold) is failing.
    """
    if latest_finished_failing and all(latest_finished_failing):
        return "error"
    if any_failing_last_24h:
        return "degraded"
    if events_last_24h > 0:
        return "active"
    return "idle"


@dataclass
class Tally:
    """Additive counts over a set of finished runs (a window, an hour, a bucket)."""

    runs: int = 0
    succeeded: int = 0
    partial: int = 0
    failed: int = 0
    orphaned: int = 0
    events_delivered: int = 0
    events_by_type: Counter[str] = field(default_factory=Counter)
    batches_dlq: int = 0

    @property
    def failing(self) -> int:
        return self.partial + self.failed + self.orphaned

    @property
    def failed_deliveries(self) -> int:
        """SPEC §3: DLQ batches plus one per failed or orphaned run."""
        return self.batches_dlq + self.failed + self.orphaned

    def add_run(
        self,
        outcome: str,
        events_delivered: int = 0,
        events_by_type: Mapping[str, int] | None = None,
        batches_dlq: int = 0,
    ) -> None:
        self.runs += 1
        if outcome == "succeeded":
            self.succeeded += 1
        elif outcome == "partial":
            self.partial += 1
        elif outcome == "failed":
            self.failed += 1
        elif outcome == "orphaned":
            self.orphaned += 1
        self.events_delivered += events_delivered
        self.batches_dlq += batches_dlq
        self.events_by_type.update(typed_events(events_delivered, events_by_type))

    def __iadd__(self, other: Tally) -> Tally:
        self.runs += other.runs
        self.succeeded += other.succeeded
        self.partial += other.partial
        self.failed += other.failed
        self.orphaned += other.orphaned
        self.events_delivered += other.events_delivered
        self.batches_dlq += other.batches_dlq
        self.events_by_type.update(other.events_by_type)
        return self


def typed_events(events_delivered: int, events_by_type: Mapping[str, int] | None) -> dict[str, int]:
    """A run's events by type, with whatever has no breakdown under ``other``."""
    typed = {k: int(v) for k, v in (events_by_type or {}).items() if v}
    rest = events_delivered - sum(typed.values())
    if rest > 0:
        typed[OTHER] = typed.get(OTHER, 0) + rest
    return typed


def events_breakdown(event_types: Iterable[str], by_type: Mapping[str, int], total: int) -> dict[str, int]:
    """The ``events_last_*`` object: every configured type, other non-zero keys, ``total``.

    A type no longer configured on the connection keeps its own key while it has counts,
    and ``other`` appears only when non-zero, so ``total`` always equals the sum of the rest.
    """
    out: dict[str, int] = {t: int(by_type.get(t, 0)) for t in event_types}
    for key, value in sorted(by_type.items()):
        if key not in out and key != OTHER and value:
            out[key] = int(value)
    # Whatever the per-type keys do not explain is "other" (never negative).
    other = total - sum(out.values())
    if other > 0:
        out[OTHER] = other
    out[TOTAL] = total
    return out


def success_rate(succeeded: int, finished: int) -> float | None:
    """Percent of finished runs that succeeded, one decimal; None with no finished runs."""
    if finished == 0:
        return None
    return round(100.0 * succeeded / finished, 1)
