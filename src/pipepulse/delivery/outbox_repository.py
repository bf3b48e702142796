"""SQL of sending the outbox (delivery/service.py): claims are leases on
``next_attempt_at`` and every later write holds only while ``attempts`` still names this claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import AlertChannel, Notification


async def claim_notifications(
    session: AsyncSession, due: Select[tuple[str]], now: datetime, lease_until: datetime
) -> Sequence[Row[Any]]:
    """Lease the pending, due notifications among ``due`` (a subquery of ids) and count the
    attempt; rows of (id, attempts, due_at, payload, channel_id)."""
    n = Notification
    return (
        await session.execute(
            update(n)
            .where(n.id.in_(due), n.state == "pending", n.next_attempt_at <= now)
            .values(attempts=n.attempts + 1, next_attempt_at=lease_until)
            .returning(n.id, n.attempts, n.due_at, n.payload, n.channel_id)
            .execution_options(synchronize_session=False)
        )
    ).all()


async def channel_targets(session: AsyncSession, channel_ids: set[str]) -> dict[str, Any]:
    """What sending needs of each channel, by id."""
    c = AlertChannel
    rows = await session.execute(
        select(c.id, c.kind, c.url, c.signing_secret, c.routing_key, c.recipients, c.enabled).where(
            c.id.in_(channel_ids)
        )
    )
    return {row.id: row for row in rows}


async def update_claimed(
    session: AsyncSession, notification_id: str, attempts: int, values: dict[str, Any]
) -> bool:
    """Write ``values`` only while the claim is still this pass's own (a lease that ran out was
    re-claimed, and its ``attempts`` moved on); False when it was not."""
    n = Notification
    result = await session.execute(
        update(n)
        .where(n.id == notification_id, n.attempts == attempts, n.state == "pending")
        .values(**values)
        .returning(n.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def disable_channel(session: AsyncSession, channel_id: str, reason: str, now: datetime) -> None:
    """Stop a channel, and give up what was still waiting for it."""
    await session.execute(
        update(AlertChannel)
        .where(AlertChannel.id == channel_id, AlertChannel.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason, disabled_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Notification)
        .where(Notification.channel_id == channel_id, Notification.state == "pending")
        .values(state="failed", next_attempt_at=None, last_error=f"not sent: {reason}")
        .execution_options(synchronize_session=False)
    )
