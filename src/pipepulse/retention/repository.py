"""SQL of retention: per connection, one bounded batch per statement, along existing indexes.

Each DELETE names one connection and at most ``limit`` rows picked in index order by a
subquery, and repeats the age predicate on the outer statement, so on PostgreSQL a row
changed by a concurrent transaction (a late report completing a pending run) is re-checked
under its lock and skipped rather than deleted.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import tallies
from pipepulse.db.dialect import as_utc
from pipepulse.db.models import (
    AlertEvent,
    EventHourlyRollup,
    Notification,
    Organisation,
    Run,
    RunHourlyRollup,
    WarehouseConnection,
)
from pipepulse.db.tallies import FINISHED


def _completed_before(connection_id: str, before: datetime) -> list[ColumnElement[bool]]:
    # ix_runs_connection_completed
    return [Run.connection_id == connection_id, Run.completed_at < before]


def _pending_before(connection_id: str, started_before: datetime) -> list[ColumnElement[bool]]:
    # ix_runs_pending (partial: completed_at IS NULL)
    return [Run.connection_id == connection_id, Run.completed_at.is_(None), Run.started_at < started_before]


async def connections_with_work(
    session: AsyncSession, runs_before: datetime, orphans_started_before: datetime, hours_before: datetime
) -> list[str]:
    """Connections holding anything retention would delete: one statement, three index probes each.

    Cheap when there is nothing to delete, so the scheduler can ask every tick.
    """
    c = WarehouseConnection
    r, h = Run, RunHourlyRollup
    old_run = exists().where(r.connection_id == c.id, r.completed_at < runs_before)
    old_orphan = exists().where(
        r.connection_id == c.id, r.completed_at.is_(None), r.started_at < orphans_started_before
    )
    old_hour = exists().where(h.connection_id == c.id, h.hour < hours_before)
    rows = await session.scalars(select(c.id).where(old_run | old_orphan | old_hour).order_by(c.id))
    return list(rows)


async def delete_completed(session: AsyncSession, connection_id: str, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the connection's runs completed before ``before``, oldest first."""
    where = _completed_before(connection_id, before)
    batch = select(Run.id).where(*where).order_by(Run.completed_at).limit(limit)
    result = await session.execute(
        delete(Run)
        .where(*where, Run.id.in_(batch))
        .returning(Run.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


async def delete_orphans(
    session: AsyncSession, connection_id: str, started_before: datetime, limit: int
) -> list[tuple[int, datetime]]:
    """Delete up to ``limit`` pending runs started before ``started_before``; returns what went.

    RETURNING reports exactly the rows this statement deleted, so a concurrent scheduler
    replica deleting the same batch never makes one orphan count twice.
    """
    where = _pending_before(connection_id, started_before)
    batch = select(Run.id).where(*where).order_by(Run.started_at).limit(limit)
    result = await session.execute(
        delete(Run)
        .where(*where, Run.id.in_(batch))
        .returning(Run.organisation_id, Run.started_at)
        .execution_options(synchronize_session=False)
    )
    out = []
    for organisation_id, started_at in result:
        started = as_utc(started_at)
        assert started is not None
        out.append((organisation_id, started))
    return out


async def delete_hours(session: AsyncSession, connection_id: str, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the connection's hourly run rollups older than ``before``."""
    h = RunHourlyRollup
    where = [h.connection_id == connection_id, h.hour < before]
    batch = select(h.hour).where(*where).order_by(h.hour).limit(limit)
    result = await session.execute(
        delete(h)
        .where(*where, h.hour.in_(batch))
        .returning(h.hour)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


async def delete_event_hours(session: AsyncSession, connection_id: str, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the connection's hourly event rollups older than ``before``."""
    e = EventHourlyRollup
    where = [e.connection_id == connection_id, e.hour < before]
    batch = select(e.hour, e.event_type).where(*where).order_by(e.hour, e.event_type).limit(limit)
    result = await session.execute(
        delete(e)
        .where(*where, tuple_(e.hour, e.event_type).in_(batch))
        .returning(e.hour)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


def _finished_before(before: datetime) -> list[ColumnElement[bool]]:
    """Notifications retention may delete: finished, created before ``before``."""
    n = Notification
    return [n.created_at < before, n.state.in_(FINISHED)]


def _events_before(before: datetime) -> list[ColumnElement[bool]]:
    """Alert events older than ``before`` (whether a notification still refers to them aside)."""
    e = AlertEvent
    return [e.at < before, e.created_at < before]


def _old_notifications(organisation_id: int, before: datetime) -> list[ColumnElement[bool]]:
    # ix_notifications_org_created
    return [Notification.organisation_id == organisation_id, *_finished_before(before)]


def _old_events(organisation_id: int, before: datetime) -> list[ColumnElement[bool]]:
    # ix_alert_events_org_at; an event stays while a notification of it does (the delivery log
    # links to it, and deleting it would cascade to them)
    e = AlertEvent
    return [
        e.organisation_id == organisation_id,
        *_events_before(before),
        ~exists().where(Notification.event_id == e.id),
    ]


async def organisations_with_old_alerts(session: AsyncSession, before: datetime) -> list[int]:
    """Organisations holding alert events or finished notifications created before ``before``:
    two index probes per organisation."""
    o = Organisation
    old_notification = exists().where(Notification.organisation_id == o.id, *_finished_before(before))
    old_event = exists().where(AlertEvent.organisation_id == o.id, *_events_before(before))
    rows = await session.scalars(select(o.id).where(old_notification | old_event).order_by(o.id))
    return list(rows)


async def delete_notifications(
    session: AsyncSession, organisation_id: int, before: datetime, limit: int
) -> int:
    """Delete up to ``limit`` of the organisation's finished notifications created before
    ``before`` (notifications still pending or held back are never deleted), tallying them."""
    n = Notification
    where = _old_notifications(organisation_id, before)
    batch = select(n.id).where(*where).order_by(n.created_at).limit(limit)
    result = await session.execute(
        delete(n)
        .where(*where, n.id.in_(batch))
        .returning(n.type, n.state)
        .execution_options(synchronize_session=False)
    )
    gone = Counter((type_, state) for type_, state in result)
    await tallies.add(session, gone)
    return gone.total()


async def delete_alert_events(
    session: AsyncSession, organisation_id: int, before: datetime, limit: int
) -> int:
    """Delete up to ``limit`` of the organisation's alert events older than ``before`` that no
    notification refers to any more."""
    e = AlertEvent
    where = _old_events(organisation_id, before)
    batch = select(e.id).where(*where).order_by(e.at).limit(limit)
    result = await session.execute(
        delete(e).where(*where, e.id.in_(batch)).returning(e.id).execution_options(synchronize_session=False)
    )
    return len(result.all())


async def count_expired(
    session: AsyncSession, runs_before: datetime, orphans_started_before: datetime, hours_before: datetime
) -> dict[str, int]:
    """How many rows of each kind retention would delete now (for ``--dry-run``); alert history
    goes with the raw runs' cutoff."""
    h, e = RunHourlyRollup, EventHourlyRollup
    counts = {
        "runs": select(func.count()).where(Run.completed_at < runs_before),
        "orphans": select(func.count()).where(
            and_(Run.completed_at.is_(None), Run.started_at < orphans_started_before)
        ),
        "hourly_rollups": select(func.count()).select_from(h).where(h.hour < hours_before),
        "event_rollups": select(func.count()).select_from(e).where(e.hour < hours_before),
        "notifications": select(func.count()).where(*_finished_before(runs_before)),
        # Events whose notifications go in the same run count too (they are deleted after them).
        "alert_events": select(func.count()).where(
            *_events_before(runs_before),
            ~exists().where(Notification.event_id == AlertEvent.id, ~and_(*_finished_before(runs_before))),
        ),
    }
    return {name: int(await session.scalar(query) or 0) for name, query in counts.items()}
