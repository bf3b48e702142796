"""The run predicates, written once (SPEC §3): a run without a report is pending until its
orphan window has passed and orphaned after; failing runs are the partial, failed and
orphaned ones. Every repository that selects runs by these states asks here.

``orphaned_before`` is ``now`` minus the orphan window (rules.orphaned_before).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_

from pipepulse.db.models import Run

FAILING_OUTCOMES = ("partial", "failed")


def orphaned(orphaned_before: datetime) -> ColumnElement[bool]:
    """Never reported, and started at or before ``orphaned_before``."""
    return and_(Run.completed_at.is_(None), Run.started_at <= orphaned_before)


def pending(orphaned_before: datetime) -> ColumnElement[bool]:
    """Not reported yet, and still inside its orphan window."""
    return and_(Run.completed_at.is_(None), Run.started_at > orphaned_before)


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
