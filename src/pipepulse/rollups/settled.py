"""Settled hours: rollup hours a reader may keep, and the writes that say one changed.

Organisation health keeps, per organisation, the per-type sums of the hours it read
(health/closed_hours.py), so that a month's answer reads the newest hours alone instead of
every connection's rollups of the month. What it keeps must never be stale:

- a reader keeps only hours that are **settled**: ``hour < settled_before(clock)``, two whole
  hours before the current hour of the database's clock;
- a write to an hour that may be settled **bumps** the organisation's ``rollups_version``
  in the same statement or transaction: a report whose run's hour is ``< late_before(clock)``
  (one whole hour before the current hour), retention's orphans, a rebuild, a connection
  deleted or given another integration type;
- a reader reads the version before it reads any rollup row, and drops what it kept under
  another version.

Why a report that does not bump cannot change a kept hour: such a report's hour ``H`` is
``>= floor_hour(clock_R) - 1 h``; a kept hour is ``<= floor_hour(clock_K) - 3 h``; so the
report's clock was at least an hour earlier than the keeper's. The report's statement would
have to stay open for an hour (or the database's clock step back by one) for the keeper's
snapshot to miss a report it did not see bumped. Both clocks are the database's own (never a
request's ``now``, which tests freeze and move back): PostgreSQL's ``now()``, SQLite's
``julianday('now')``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import dialect
from pipepulse.db.models import Organisation
from pipepulse.rollups.plan import HOUR, floor_hour

# A report for an hour before this many whole hours before the current one may touch an hour
# a reader keeps, and bumps the version.
LATE_HOURS = 1
# A reader keeps only hours before this many whole hours before the current one.
SETTLED_HOURS = 2


def late_before(clock: datetime) -> datetime:
    return floor_hour(clock) - LATE_HOURS * HOUR


def settled_before(clock: datetime) -> datetime:
    return floor_hour(clock) - SETTLED_HOURS * HOUR


def late_hour_seconds(name: str) -> Any:
    """``late_before`` of the database's clock, as seconds since the epoch (SQL)."""
    return func.floor(dialect.clock_seconds(name) / 3600) * 3600 - LATE_HOURS * 3600


def from_seconds(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)


async def version_and_clock(session: AsyncSession, organisation_id: int) -> tuple[int, datetime]:
    """The organisation's rollups version and the database's clock, read together."""
    clock = dialect.clock_seconds(dialect.name_of(session))
    query = select(Organisation.rollups_version, clock).where(Organisation.id == organisation_id)
    row = (await session.execute(query)).one()
    return int(row[0]), from_seconds(row[1])


async def bump(session: AsyncSession, organisation_ids: Iterable[int]) -> None:
    """Mark these organisations' settled hours changed (in the writing transaction)."""
    ids = sorted(set(organisation_ids))
    if ids:
        await session.execute(
            update(Organisation)
            .where(Organisation.id.in_(ids))
            .values(rollups_version=Organisation.rollups_version + 1)
            .execution_options(synchronize_session=False)
        )


async def bump_if_late(session: AsyncSession, organisation_id: int, hour: datetime) -> None:
    """Bump the organisation when a report's run lies in an hour before ``late_before`` of the
    database's clock (the SQLite report path; PostgreSQL's report statement does the same)."""
    name = dialect.name_of(session)
    connection = await session.connection()
    await connection.execute(
        update(Organisation)
        .where(
            Organisation.id == bindparam("organisation_id"),
            bindparam("hour_seconds") < late_hour_seconds(name),
        )
        .values(rollups_version=Organisation.rollups_version + 1),
        {"organisation_id": organisation_id, "hour_seconds": hour.timestamp()},
    )


# The same rule in PostgreSQL's report statement (rollups/set_based.py), over the hours of the
# runs it completed (seconds since the epoch).
LATE_HOUR_SECONDS_SQL = f"floor(extract(epoch FROM now()) / 3600) * 3600 - {LATE_HOURS * 3600}"
