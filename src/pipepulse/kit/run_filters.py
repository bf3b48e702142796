"""The run predicates, written once (SPEC §3): a run without a report is pending until its
orphan window has passed and orphaned after; failing runs are the partial, failed and
orphaned ones. Every repository that selects runs by these states asks here.

``orphaned_before`` is ``now`` minus the orphan window (rules.orphaned_before). A run finishes
at ``completed_at``, or, never reported, as an orphan at ``started_at`` + the window: the
range forms below select runs by that instant. Bounds may be values or bound parameters of a
statement built once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, true

from pipepulse.db.models import Run

FAILING_OUTCOMES = ("partial", "failed")


def unreported() -> ColumnElement[bool]:
    """No report yet: pending or orphaned, on the small partial index of pending rows."""
    return Run.completed_at.is_(None)


def orphaned(orphaned_before: Any) -> ColumnElement[bool]:
    """Never reported, and started at or before ``orphaned_before``."""
    return and_(unreported(), Run.started_at <= orphaned_before)


def pending(orphaned_before: Any) -> ColumnElement[bool]:
    """Not reported yet, and still inside its orphan window."""
    return and_(unreported(), Run.started_at > orphaned_before)


def unreported_started_in(lo: Any | None, hi: Any | None) -> ColumnElement[bool]:
    """Never reported, started in ``[lo, hi)`` (unbounded on a side given as None)."""
    return and_(
        unreported(),
        Run.started_at >= lo if lo is not None else true(),
        Run.started_at < hi if hi is not None else true(),
    )


def orphans_finished_in(start: datetime, end: datetime, orphan_window: timedelta) -> ColumnElement[bool]:
    """Never reported runs whose orphan instant (``started_at`` + the window) is in ``[start, end)``."""
    return unreported_started_in(start - orphan_window, end - orphan_window)


def completed_in(lo: Any, hi: Any) -> ColumnElement[bool]:
    """Reported, with ``completed_at`` in ``[lo, hi)``."""
    return and_(Run.completed_at >= lo, Run.completed_at < hi)


def completed_as(outcome: str) -> ColumnElement[bool]:
    return and_(Run.completed_at.is_not(None), Run.outcome == outcome)


def outcome(outcome: str, orphaned_before: datetime) -> ColumnElement[bool]:
    """Runs whose outcome (as rules.run_outcome derives it) is ``outcome``."""
    if outcome == "pending":
        return pending(orphaned_before)
    if outcome == "orphaned":
        return orphaned(orphaned_before)
    return completed_as(outcome)


def failing(orphaned_before: datetime) -> ColumnElement[bool]:
    """The failing outcomes together: partial, failed, and pending past the orphan window."""
    return or_(
        and_(Run.completed_at.is_not(None), Run.outcome.in_(FAILING_OUTCOMES)),
        orphaned(orphaned_before),
    )
