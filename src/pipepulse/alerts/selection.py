"""Which connections an evaluation pass visits (SPEC §7.3, incremental): those whose inputs
changed since the last pass, and those whose horizon has passed.

A connection's answer can change only when its inputs change (a report, a seed, an edit of
the connection) or when time crosses one of its horizons:
a finished run leaving the 24-hour window, a pending run reaching its orphan deadline, the
freshness deadline, the next complete hour (volume). Everything else is provably unchanged, so
a pass over a quiet fleet reads one small row per connection and nothing of its runs.

The rules here are pure; ``selection_repository`` reads the inputs and edges. The tracker lives in
the scheduler process: a restart starts with a full pass, and a replica taking over a partition
of the connections (``shares``) visits its connections as new.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipepulse.rollups.plan import HOUR, TICK, floor_hour
from pipepulse.rules import DAY
from pipepulse.status import verdicts

# A report that backfills a run finished before the connection's newest completion, and was
# never seeded, changes no input this module reads: a full pass this often catches it.
FULL_PASS_EVERY = timedelta(minutes=10)


@dataclass(frozen=True)
class Inputs:
    """What the horizon needs of a connection's small row (``selection_repository.inputs``), whose
    whole value (its signature) changes whenever anything the evaluation reads changes."""

    state: str
    created_at: datetime
    sla: timedelta
    last_failing_at: datetime | None
    last_delivery_at: datetime | None


@dataclass(frozen=True)
class Edges:
    """The run instants a connection's horizon depends on, read for the connections visited."""

    # The n-th newest completion at or before now (n = error_status_runs): runs older than it
    # leaving the window do not change the latest runs the status looks at.
    nth_completed: datetime | None
    oldest_in_window: datetime | None  # the oldest completion within the last 24 hours
    next_completion: datetime | None  # the earliest completion after now (a clock ahead)
    pending_start: datetime | None  # the earliest start of a run not yet orphaned
    orphan_start: datetime | None  # the earliest start of an orphan still within 24 hours


def horizon(inputs: Inputs, edges: Edges, now: datetime, orphan_window: timedelta) -> datetime:
    """The first instant after ``now`` at which the connection's evaluation may differ with
    unchanged inputs: its status or lateness (:func:`answer_horizon`), or the next complete
    hour's volume verdict. Never later than that; sometimes earlier, which costs one visit."""
    next_hour = floor_hour(now) + HOUR
    found = answer_horizon(inputs, edges, now, orphan_window)
    return next_hour if found is None else min(found, next_hour)


def answer_horizon(inputs: Inputs, edges: Edges, now: datetime, orphan_window: timedelta) -> datetime | None:
    """The first instant after ``now`` at which the status or lateness may change (``now``
    itself when the row cannot tell; None when nothing ever changes them)."""
    candidates: list[datetime] = []
    in_day = now - DAY
    if edges.nth_completed is not None and edges.nth_completed > in_day:
        # Runs older than the n-th newest leave the window without changing the latest runs.
        candidates.append(edges.nth_completed + DAY)
    elif edges.oldest_in_window is not None:
        candidates.append(edges.oldest_in_window + DAY)
    for latest in (inputs.last_failing_at, inputs.last_delivery_at):
        if latest is None:
            continue
        if latest > now:
            # A completion ahead of the clock: what holds until then is not in this row.
            return now
        if latest > in_day:
            candidates.append(latest + DAY)  # the last failure (delivery) leaves the window
    if edges.next_completion is not None:
        candidates.append(edges.next_completion)
    if edges.pending_start is not None:
        candidates.append(edges.pending_start + orphan_window)  # the orphan deadline
    if edges.orphan_start is not None:
        candidates.append(edges.orphan_start + orphan_window + DAY)
    if inputs.state in verdicts.SCHEDULED_STATES:
        since = inputs.last_delivery_at if inputs.last_delivery_at is not None else inputs.created_at
        candidates.append(since + inputs.sla + TICK)  # late once the SLA is exceeded
    return min((c for c in candidates if c > now), default=None)


def changed(before: Mapping[str, Hashable], now_seen: Mapping[str, Hashable]) -> set[str]:
    """Connections that are new or whose signature differs from the last pass's."""
    return {cid for cid, found in now_seen.items() if before.get(cid) != found}


def due(horizons: Mapping[str, datetime], ids: Iterable[str], now: datetime) -> set[str]:
    """Connections whose horizon has been reached (or was never computed)."""
    return {cid for cid in ids if (at := horizons.get(cid)) is None or at <= now}


@dataclass
class Picked:
    """What one pass visits, and what the tracker learns once the pass has succeeded."""

    ids: list[str] | None  # None: every connection (a full pass)
    signatures: dict[str, Hashable]  # every connection that is not paused (of the share)
    horizons: dict[str, datetime] = field(default_factory=dict)
    # The connections the pass reads: ``ids``, or for a full pass of a share its connections
    # (None: every connection).
    scope: list[str] | None = None


@dataclass
class Tracker:
    """The last pass's signatures and horizons, for one evaluating scheduler."""

    signatures: dict[str, Hashable] = field(default_factory=dict)
    horizons: dict[str, datetime] = field(default_factory=dict)
    last_full: datetime | None = None
    full_every: timedelta = FULL_PASS_EVERY

    def forget(self, only: Callable[[str], bool] | None = None) -> None:
        """Start again with a full pass (another replica evaluated meanwhile); with ``only``,
        forget just the connections it picks, which the next pass then visits as new."""
        if only is None:
            self.signatures, self.horizons, self.last_full = {}, {}, None
            return
        for cid in [cid for cid in self.signatures if only(cid)]:
            del self.signatures[cid]
            self.horizons.pop(cid, None)

    def choose(self, signatures: Mapping[str, Hashable], now: datetime) -> list[str] | None:
        """The connections to visit at ``now``; None for a full pass."""
        if self.last_full is None or now - self.last_full >= self.full_every or now < self.last_full:
            return None
        visit = changed(self.signatures, signatures) | due(self.horizons, signatures, now)
        return sorted(visit)

    def settle(self, picked: Picked, now: datetime, deferred: Iterable[str]) -> None:
        """Remember what the pass saw; connections it deferred stay due for the next pass."""
        if picked.ids is None:
            self.signatures, self.horizons, self.last_full = {}, {}, now
        seen = picked.signatures
        for cid in seen if picked.ids is None else picked.ids:
            if cid in seen:
                self.signatures[cid] = seen[cid]
                self.horizons[cid] = picked.horizons.get(cid, now)
        for cid in deferred:
            self.signatures.pop(cid, None)
        # Connections paused or deleted since are forgotten.
        for gone in [cid for cid in self.signatures if cid not in seen]:
            del self.signatures[gone]
            self.horizons.pop(gone, None)
