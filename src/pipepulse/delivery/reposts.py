"""Posting firing alerts to Alertmanager again every minute while their group is open (SPEC §7.5).

Alertmanager resolves an alert that is not posted again before its ``endsAt``; Prometheus
therefore re-sends every firing alert each minute, and so does pipepulse. The delivered firing
notification of a group is what is posted again (the alerts it told, firing ones only), until
the group closes or a later notification of the group takes its place. A re-post is one
attempt, not an outbox entry: the next minute's re-post is its retry, and Alertmanager keeps
the alert until the ``endsAt`` of the last post that reached it (four minutes ahead).

Replicas: a re-post moves ``repost_at`` only where it is still the value read (compare and
set), so each minute's re-post goes out once however many schedulers run.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import AlertChannel, AlertGroup, Notification
from pipepulse.db.session import Database
from pipepulse.delivery import channels, sender
from pipepulse.delivery.channels import alertmanager
from pipepulse.delivery.group_bodies import GROUP_TYPE

log = logging.getLogger(__name__)

BATCH = 200
CONCURRENCY = 16


def first_repost(kind: str, payload: dict[str, Any], delivered_at: datetime) -> datetime | None:
    """When a notification just delivered is next posted again: a firing group notification
    to an Alertmanager a minute later; anything else never."""
    if kind != "alertmanager" or payload.get("type") != GROUP_TYPE or payload.get("status") != "firing":
        return None
    return delivered_at + alertmanager.REPOST_EVERY


def still_firing(payload: dict[str, Any]) -> dict[str, Any]:
    """The notification body with only its firing alerts: what a re-post tells Alertmanager."""
    return payload | {"alerts": [a for a in payload.get("alerts") or [] if not a.get("ended_at")]}


async def _claim(session: AsyncSession, now: datetime) -> list[tuple[str, dict[str, Any], channels.Target]]:
    n, g, c = Notification, AlertGroup, AlertChannel
    rows = (
        await session.execute(
            select(
                n.id,
                n.repost_at,
                n.group_id,
                n.group_sequence,
                n.payload,
                g.state,
                c.id.label("channel_id"),
                c.kind,
                c.url,
                c.enabled,
            )
            .join(c, c.id == n.channel_id)
            .outerjoin(g, g.id == n.group_id)
            .where(n.repost_at <= now, n.state == "delivered")
            .order_by(n.repost_at, n.id)
            .limit(BATCH)
        )
    ).all()
    if not rows:
        return []
    latest = dict(
        (
            await session.execute(
                select(n.group_id, func.max(n.group_sequence))
                .where(n.group_id.in_({row.group_id for row in rows}))
                .group_by(n.group_id)
            )
        ).all()
    )
    over = [
        row.id
        for row in rows
        if row.state != "open" or not row.enabled or row.group_sequence < latest.get(row.group_id, 0)
    ]
    if over:  # the group closed, the channel was disabled, or a later notification took over
        await session.execute(
            update(n)
            .where(n.id.in_(over))
            .values(repost_at=None)
            .execution_options(synchronize_session=False)
        )
    out = []
    for row in rows:
        if row.id in over:
            continue
        moved = await session.execute(
            update(n)
            .where(n.id == row.id, n.repost_at == row.repost_at)
            .values(repost_at=now + alertmanager.REPOST_EVERY)
            .returning(n.id)
            .execution_options(synchronize_session=False)
        )
        if moved.first() is not None:
            target = channels.Target(id=row.channel_id, kind=row.kind, url=row.url)
            out.append((row.id, still_firing(row.payload), target))
    return out


async def repost_due(
    db: Database, now: datetime, *, options: channels.Options, client: sender.Client | None = None
) -> int:
    """Post again the firing Alertmanager notifications whose minute has come; answers how many
    Alertmanagers took them."""
    async with db.session(write=True) as session:
        due = await _claim(session, now)
    if not due:
        return 0
    own_client = client is None
    http = client or sender.new_client()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def attempt(notification_id: str, payload: dict[str, Any], target: channels.Target) -> bool:
        async with gate:
            outcome = await channels.deliver(http, target, payload, now=now, options=options)
        fields = {
            "notification_id": notification_id,
            "channel_id": target.id,
            "status_code": outcome.status_code,
        }
        if not outcome.delivered:
            log.warning("alertmanager re-post not taken: %s", outcome.error, extra=fields)
        return outcome.delivered

    try:
        taken = await asyncio.gather(*(attempt(*item) for item in due))
    finally:
        if own_client:
            await http.aclose()
    return sum(taken)
