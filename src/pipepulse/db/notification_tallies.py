"""Counts of deleted notifications, kept so ``pipepulse_notifications_total`` only grows.

Every path that deletes notifications (retention, deleting a channel or a connection) tallies
the final-state ones it deletes, in the same transaction. Pending ones are not tallied: their
series is a live count that goes down as they are delivered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import dialect
from pipepulse.db.models import Notification, NotificationTally

FINISHED = ("delivered", "failed", "cancelled")


async def add(session: AsyncSession, deleted: Mapping[tuple[str, str], int]) -> None:
    """Add ``deleted[(type, state)]`` notifications to the tallies."""
    t = NotificationTally
    for (type_, state), count in sorted(deleted.items()):
        if state not in FINISHED or not count:
            continue
        stmt = dialect.insert(dialect.name_of(session), t).values(type=type_, state=state, deleted=count)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.type, t.state], set_={"deleted": t.deleted + stmt.excluded.deleted}
            )
        )


async def retire(session: AsyncSession, where: ColumnElement[bool]) -> None:
    """Tally the notifications matching ``where``, which the caller is about to delete."""
    n = Notification
    rows = await session.execute(
        select(n.type, n.state, func.count()).where(where, n.state.in_(FINISHED)).group_by(n.type, n.state)
    )
    await add(session, Counter({(type_, state): int(count) for type_, state, count in rows}))


async def deleted(session: AsyncSession) -> dict[tuple[str, str], int]:
    """What the deleted notifications counted, per (type, state)."""
    t = NotificationTally
    rows = await session.execute(select(t.type, t.state, t.deleted))
    return {(type_, state): int(count) for type_, state, count in rows}
