"""Until when a §3 answer is exact, and which inputs it was computed under. Pure: no I/O, no clock."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipepulse.rollups.plan import TICK
from pipepulse.rules import DAY, WEEK, Thresholds


@dataclass(frozen=True)
class FirstAfter:
    """The earliest times of a connection's runs after the instants a window can change at.

    ``completed[i]`` is the earliest ``completed_at`` later than ``at - span_i`` and
    ``pending[i]`` the earliest ``started_at`` of a never-completed run later than
    ``at - orphan_window - span_i``, for the spans 0, 24 hours and 7 days (None: no such run).
    """

    completed: tuple[datetime | None, datetime | None, datetime | None]
    pending: tuple[datetime | None, datetime | None, datetime | None]


SPANS = (DAY * 0, DAY, WEEK)


def next_change(first: FirstAfter, thresholds: Thresholds) -> datetime | None:
    """The first instant after ``at`` at which the answer may differ; None: none until a write.

    A finished run counts in a window ``(t - span, t]`` from its time ``T`` (inclusive) until
    ``T + span`` (exclusive); a completed run's time is ``completed_at``, a never-completed
    run's is ``started_at + orphan window``. So the answer changes only at ``T`` for a time
    still ahead, or at ``T + 24h`` / ``T + 7d`` for the times within that span before ``at``:
    the earliest of those is the earliest run time after ``at - span``, plus the span.
    """
    return _earliest(first.completed, first.pending, SPANS, thresholds.orphan_window)


def _earliest(
    completed: Sequence[datetime | None],
    pending: Sequence[datetime | None],
    spans: Sequence[timedelta],
    window: timedelta,
) -> datetime | None:
    candidates = [t + span for t, span in zip(completed, spans, strict=True) if t is not None]
    candidates += [t + window + span for t, span in zip(pending, spans, strict=True) if t is not None]
    return min(candidates, default=None)


def holds(valid_from: datetime | None, valid_until_: datetime | None, at: datetime) -> bool:
    """Whether an answer computed for ``[valid_from, valid_until)`` is the answer at ``at``."""
    return valid_from is not None and valid_from <= at and (valid_until_ is None or at < valid_until_)


def basis(thresholds: Thresholds, event_types: Sequence[str]) -> str:
    """A digest of the inputs besides the runs: the §3 thresholds and the connection's event
    types (an edit of either gives a different answer from the same runs)."""
    inputs = [
        thresholds.orphan_window.total_seconds(),
        thresholds.error_status_runs,
        thresholds.recent_errors_limit,
        list(event_types),
    ]
    return hashlib.blake2b(json.dumps(inputs).encode(), digest_size=16).hexdigest()


def etag(body: str) -> str:
    """A strong entity tag of an answer's bytes."""
    return '"' + hashlib.blake2b(body.encode(), digest_size=16).hexdigest() + '"'


def not_modified(if_none_match: str | None, current: str) -> bool:
    """Whether ``If-None-Match`` names the current answer (RFC 9110 §13.1.2: weak comparison,
    ``*`` matches any current answer)."""
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return any(tag == "*" or tag.removeprefix("W/") == current for tag in tags)


# The spans of bulk ``latest`` over the default range: its status (the 24 hours up to the
# instant) and its counters (the 24 hours before it); the 7 days play no part.
DAY_SPANS = (DAY * 0, DAY)


@dataclass(frozen=True)
class DayFirstAfter:
    """As :class:`FirstAfter` for the spans 0 and 24 hours, probed at ``at - TICK``: the
    earliest times at or after ``at - span`` (None: no such run)."""

    completed: tuple[datetime | None, datetime | None]
    pending: tuple[datetime | None, datetime | None]


def next_day_change(first: DayFirstAfter, at: datetime, thresholds: Thresholds) -> datetime | None:
    """The first instant after ``at`` at which bulk ``latest`` over ``[at - 24h, at)`` may differ.

    Its status counts a run time ``T`` in ``(at - 24h, at]`` (it changes at ``T`` and
    ``T + 24h``), its counters in ``[at - 24h, at)`` (at ``T + TICK`` and ``T + 24h + TICK``).
    The runs at or after ``at - span`` (probed at ``at - TICK``) give every such instant after
    ``at``, at the latest: the earliest of them, plus the span, never outlives the answer. One
    that falls on ``at`` itself (a run at exactly ``at - span``) changes the counters a tick later.
    """
    earliest = _earliest(first.completed, first.pending, DAY_SPANS, thresholds.orphan_window)
    return None if earliest is None else max(earliest, at + TICK)
