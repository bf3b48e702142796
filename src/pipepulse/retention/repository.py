"""SQL of retention: per connection, one bounded batch per statement, along existing indexes.

Each DELETE names one connection and at most ``limit`` rows picked in index order by a
subquery, and repeats the age predicate on the outer statement, so on PostgreSQL a row
changed by a concurrent transaction (a late report completing a pending run) is re-checked
under its lock and skipped rather than deleted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Result, and_, delete, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts.repository import in_scope
from pipepulse.db import notification_tallies
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
from pipepulse.db.notification_tallies import FINISHED
from pipepulse.kit import run_filters


def _completed_before(connection_id: str, before: datetime) -> list[ColumnElement[bool]]:
    # ix_runs_connection_completed
    return [Run.connection_id == connection_id, Run.completed_at < before]


def _pending_before(connection_id: str, started_before: datetime) -> list[ColumnElement[bool]]:
    # ix_runs_pending (partial: completed_at IS NULL)
    return [Run.connection_id == connection_id, run_filters.unreported_started_in(None, started_before)]


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
        r.connection_id == c.id, run_filters.unreported_started_in(None, orphans_started_before)
    )
    old_hour = exists().where(h.connection_id == c.id, h.hour < hours_before)
    rows = await session.scalars(select(c.id).where(old_run | old_orphan | old_hour).order_by(c.id))
    return list(rows)


async def _delete_oldest(
    session: AsyncSession,
    model: Any,
    where: Sequence[ColumnElement[bool]],
    *,
    key: Sequence[Any],
    order: Sequence[Any],
    limit: int,
    returning: Sequence[Any],
) -> Result[*tuple[Any, ...]]:
    """``DELETE`` at most ``limit`` rows matching ``where``, the first in ``order``: picked by
    ``key`` in a subquery, with ``where`` repeated outside it (see above); ``RETURNING`` what
    this statement deleted."""
    batch = select(*key).where(*where).order_by(*order).limit(limit)
    picked = key[0].in_(batch) if len(key) == 1 else tuple_(*key).in_(batch)
    return await session.execute(
        delete(model).where(*where, picked).returning(*returning).execution_options(synchronize_session=False)
    )


async def delete_completed(session: AsyncSession, connection_id: str, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the connection's runs completed before ``before``, oldest first."""
    where = _completed_before(connection_id, before)
    result = await _delete_oldest(
        session, Run, where, key=[Run.id], order=[Run.completed_at], limit=limit, returning=[Run.id]
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
    result = await _delete_oldest(
        session,
        Run,
        where,
        key=[Run.id],
        order=[Run.started_at],
        limit=limit,
        returning=[Run.organisation_id, Run.started_at],
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
    result = await _delete_oldest(
        session, h, where, key=[h.hour], order=[h.hour], limit=limit, returning=[h.hour]
    )
    return len(result.all())


async def delete_event_hours(session: AsyncSession, connection_id: str, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the connection's hourly event rollups older than ``before``."""
    e = EventHourlyRollup
    where = [e.connection_id == connection_id, e.hour < before]
    key = [e.hour, e.event_type]
    result = await _delete_oldest(session, e, where, key=key, order=key, limit=limit, returning=[e.hour])
    return len(result.all())


def _finished_before(before: datetime) -> list[ColumnElement[bool]]:
    """Notifications retention may delete: finished, created before ``before``."""
    n = Notification
    return [n.created_at < before, n.state.in_(FINISHED)]


def _events_before(before: datetime) -> list[ColumnElement[bool]]:
    """Alert events older than ``before`` (whether a notification still refers to them aside)."""
    e = AlertEvent
    return [e.at < before, e.created_at < before]


def _old_notifications(organisation_id: int | None, before: datetime) -> list[ColumnElement[bool]]:
    # ix_notifications_org_created; None: the platform's (SPEC §7.4), whose rows have no organisation
    return [in_scope(Notification.organisation_id, organisation_id), *_finished_before(before)]


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


async def platform_has_old_notifications(session: AsyncSession, before: datetime) -> bool:
    """Whether the platform's delivery log holds finished notifications created before ``before``."""
    found = await session.scalar(select(exists().where(*_old_notifications(None, before))))
    return bool(found)


async def delete_notifications(
    session: AsyncSession, organisation_id: int | None, before: datetime, limit: int
) -> int:
    """Delete up to ``limit`` of the organisation's (None: the platform's) finished notifications
    created before ``before`` (notifications still pending or held back are never deleted),
    tallying them."""
    n = Notification
    where = _old_notifications(organisation_id, before)
    result = await _delete_oldest(
        session, n, where, key=[n.id], order=[n.created_at], limit=limit, returning=[n.type, n.state]
    )
    gone = Counter((type_, state) for type_, state in result)
    await notification_tallies.add(session, gone)
    return gone.total()


async def delete_alert_events(
    session: AsyncSession, organisation_id: int, before: datetime, limit: int
) -> int:
    """Delete up to ``limit`` of the organisation's alert events older than ``before`` that no
    notification refers to any more."""
    e = AlertEvent
    where = _old_events(organisation_id, before)
    result = await _delete_oldest(session, e, where, key=[e.id], order=[e.at], limit=limit, returning=[e.id])
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
            run_filters.unreported_started_in(None, orphans_started_before)
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
