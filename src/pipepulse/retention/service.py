"""Retention (SPEC §8) as plain job functions of a session and ``now``.

Raw runs whose time (``completed_at``, or for an orphan ``started_at`` + the orphan window)
is older than ``PIPEPULSE_RUN_RETENTION_DAYS`` are deleted; hourly rollups older than
``PIPEPULSE_ROLLUP_RETENTION_DAYS`` too; daily rollups are kept for ever. A completed run is
in the rollups already. An orphan is not (readers count its pending row), so it is added to
the rollups as ``orphaned`` in the transaction that deletes its row: each orphan is counted
in exactly one place, before and after.

Alert history (SPEC §7.3's events and the delivery log) goes with the raw runs it speaks of:
finished notifications created before the runs' cutoff, then the events no notification
refers to any more. Notifications still pending or held back are never deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.session import Database
from pipepulse.retention import repository as repo
from pipepulse.rollups import writer
from pipepulse.rollups.plan import floor_hour
from pipepulse.rules import Thresholds

log = logging.getLogger(__name__)

# Rows one DELETE may remove: enough to clear a backlog quickly, few enough that each
# statement (and its transaction) holds its locks for milliseconds.
BATCH_ROWS = 10_000
TABLES = ("runs", "orphans", "hourly_rollups", "event_rollups", "notifications", "alert_events")


@dataclass(frozen=True)
class Cutoffs:
    """What is older than these goes."""

    runs_before: datetime  # completed_at
    orphans_started_before: datetime  # started_at of pending runs (their orphan time is 1 window later)
    hours_before: datetime  # hourly rollups (whole hours only)

    @classmethod
    def at(cls, now: datetime, thresholds: Thresholds) -> Cutoffs:
        runs_before = now - thresholds.run_retention
        return cls(
            runs_before=runs_before,
            orphans_started_before=runs_before - thresholds.orphan_window,
            hours_before=floor_hour(now - thresholds.rollup_retention),
        )


@dataclass
class Deleted:
    """Rows deleted (or, for a dry run, that would be) per kind."""

    runs: int = 0
    orphans: int = 0
    hourly_rollups: int = 0
    event_rollups: int = 0
    notifications: int = 0
    alert_events: int = 0
    statements: int = 0
    connections: set[str] = field(default_factory=set)
    organisations: set[int] = field(default_factory=set)

    def __iadd__(self, other: Deleted) -> Deleted:
        for name in TABLES:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.statements += other.statements
        self.connections |= other.connections
        self.organisations |= other.organisations
        return self

    @property
    def total(self) -> int:
        return sum(self.counts().values())

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in TABLES}


async def connections_due(session: AsyncSession, now: datetime, thresholds: Thresholds) -> list[str]:
    """The connections with anything past retention at ``now``."""
    c = Cutoffs.at(now, thresholds)
    return await repo.connections_with_work(session, c.runs_before, c.orphans_started_before, c.hours_before)


async def organisations_due(session: AsyncSession, now: datetime, thresholds: Thresholds) -> list[int]:
    """The organisations with alert history past retention at ``now``."""
    return await repo.organisations_with_old_alerts(session, Cutoffs.at(now, thresholds).runs_before)


async def delete_alert_batch(
    session: AsyncSession,
    organisation_id: int,
    now: datetime,
    thresholds: Thresholds,
    *,
    limit: int = BATCH_ROWS,
) -> Deleted:
    """One batch of one organisation's alert history: notifications first, then the events
    none refers to any more. Commit after each batch, as for :func:`delete_batch`."""
    before = Cutoffs.at(now, thresholds).runs_before
    notifications = await repo.delete_notifications(session, organisation_id, before, limit)
    return Deleted(
        notifications=notifications,
        alert_events=await repo.delete_alert_events(session, organisation_id, before, limit),
        statements=2,
        organisations={organisation_id},
    )


async def delete_platform_alert_batch(
    session: AsyncSession, now: datetime, thresholds: Thresholds, *, limit: int = BATCH_ROWS
) -> Deleted:
    """One batch of the platform's delivery log (SPEC §7.4 platform channels): its events are
    its organisations', deleted with theirs."""
    before = Cutoffs.at(now, thresholds).runs_before
    return Deleted(notifications=await repo.delete_notifications(session, None, before, limit), statements=1)


async def delete_batch(
    session: AsyncSession,
    connection_id: str,
    now: datetime,
    thresholds: Thresholds,
    *,
    limit: int = BATCH_ROWS,
) -> Deleted:
    """One batch for one connection: at most ``limit`` rows per statement, one statement per kind.

    Commit after each batch; a batch that deleted ``limit`` rows of a kind leaves more behind.
    """
    c = Cutoffs.at(now, thresholds)
    window = thresholds.orphan_window
    orphans = await repo.delete_orphans(session, connection_id, c.orphans_started_before, limit)
    await writer.add_orphans(session, [(connection_id, org, started + window) for org, started in orphans])
    return Deleted(
        runs=await repo.delete_completed(session, connection_id, c.runs_before, limit),
        orphans=len(orphans),
        hourly_rollups=await repo.delete_hours(session, connection_id, c.hours_before, limit),
        event_rollups=await repo.delete_event_hours(session, connection_id, c.hours_before, limit),
        statements=4,
        connections={connection_id},
    )


async def preview(session: AsyncSession, now: datetime, thresholds: Thresholds) -> Deleted:
    """What :func:`delete_batch` would delete at ``now``, over every connection, without deleting."""
    c = Cutoffs.at(now, thresholds)
    counts = await repo.count_expired(session, c.runs_before, c.orphans_started_before, c.hours_before)
    return Deleted(
        **counts,
        connections=set(await connections_due(session, now, thresholds)),
        organisations=set(await organisations_due(session, now, thresholds)),
    )


async def apply(
    db: Database,
    thresholds: Thresholds,
    now: datetime,
    *,
    limit: int = BATCH_ROWS,
    max_batches: int | None = None,
) -> Deleted:
    """Delete what is past retention, one batch (one short transaction) at a time: each
    connection's runs and rollups, then each organisation's alert history.

    With ``max_batches`` it stops after that many batches; the next call goes on (the scheduler
    runs a few every tick; ``pipepulse retention`` runs them all).
    """
    async with db.session() as session:
        due = await connections_due(session, now, thresholds)
        organisations = await organisations_due(session, now, thresholds)
        platform = await repo.platform_has_old_notifications(session, Cutoffs.at(now, thresholds).runs_before)
    total = Deleted()
    batches = 0

    async def drain(one_batch: Callable[[AsyncSession], Awaitable[Deleted]]) -> None:
        nonlocal total, batches
        while max_batches is None or batches < max_batches:
            async with db.session(write=True) as session:
                batch = await one_batch(session)
            batches += 1
            total += batch
            if max(batch.counts().values()) < limit:
                break

    for connection_id in due:
        await drain(
            partial(
                delete_batch,
                connection_id=connection_id,
                now=now,
                thresholds=thresholds,
                limit=limit,
            )
        )
    for organisation_id in organisations:
        await drain(
            partial(
                delete_alert_batch,
                organisation_id=organisation_id,
                now=now,
                thresholds=thresholds,
                limit=limit,
            )
        )
    if platform:
        await drain(partial(delete_platform_alert_batch, now=now, thresholds=thresholds, limit=limit))
    if total.total:
        log.info("retention deleted %s", total.counts())
    return total
