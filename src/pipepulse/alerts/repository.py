"""SQL for channels, rules, the notification log and channel heartbeats.

Channels, rules and notifications belong to a **scope**: an organisation's id, or None for the
platform's (SPEC §7.4), whose rows have no organisation. Every read here is of one scope.

The evaluation pass has its own (evaluation_repository.py, selection_repository.py), and
so does sending the outbox (outbox_repository.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import ColumnElement, column, delete, func, select, update
from sqlalchemy import table as sa_table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from pipepulse import secretbox
from pipepulse.db import notification_tallies
from pipepulse.db.dialect import one_of
from pipepulse.db.models import AlertChannel, AlertRule, ChannelHeartbeat, Notification, WarehouseConnection

MAX_CHANNELS_LISTED = 500

Scope = int | None


def in_scope(organisation_id: Any, scope: Scope) -> ColumnElement[bool]:
    """``organisation_id`` is the scope's: the organisation's id, or null for the platform's
    (``= NULL`` would match nothing, so the platform's is ``IS NULL``)."""
    return organisation_id.is_(None) if scope is None else organisation_id == scope  # type: ignore[no-any-return]


async def channel(session: AsyncSession, scope: Scope, channel_id: str) -> AlertChannel | None:
    return await session.scalar(
        select(AlertChannel).where(
            AlertChannel.id == channel_id, in_scope(AlertChannel.organisation_id, scope)
        )
    )


async def channels(
    session: AsyncSession, scope: Scope, *, offset: int = 0, limit: int | None = None
) -> tuple[Sequence[AlertChannel], int]:
    query = select(AlertChannel).where(in_scope(AlertChannel.organisation_id, scope))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(AlertChannel.created_at, AlertChannel.id).offset(offset).limit(limit)
    )
    return rows.all(), total


async def rule(session: AsyncSession, scope: Scope, rule_id: str) -> AlertRule | None:
    return await session.scalar(
        select(AlertRule).where(AlertRule.id == rule_id, in_scope(AlertRule.organisation_id, scope))
    )


async def rules(
    session: AsyncSession, scope: Scope, *, offset: int = 0, limit: int | None = None
) -> tuple[Sequence[AlertRule], int]:
    query = select(AlertRule).where(in_scope(AlertRule.organisation_id, scope))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(AlertRule.created_at, AlertRule.id).offset(offset).limit(limit)
    )
    return rows.all(), total


async def existing_connections(session: AsyncSession, scope: Scope, ids: Sequence[str]) -> set[str]:
    """Which of the connections exist in the scope (the platform's: in any organisation)."""
    c = WarehouseConnection
    query = select(c.id).where(one_of(session, c.id, ids))
    if scope is not None:
        query = query.where(c.organisation_id == scope)
    found = await session.scalars(query)
    return set(found.all())


async def delete_channel(session: AsyncSession, channel_id: str) -> None:
    # Its rules and its notifications go with it (ON DELETE CASCADE); what they counted stays.
    await notification_tallies.retire(session, Notification.channel_id == channel_id)
    await session.execute(delete(AlertChannel).where(AlertChannel.id == channel_id))


async def delete_rule(session: AsyncSession, rule_id: str) -> None:
    await session.execute(delete(AlertRule).where(AlertRule.id == rule_id))


async def notifications(
    session: AsyncSession,
    scope: Scope,
    *,
    connection_id: str | None,
    state: str | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Notification], int]:
    n = Notification
    query = select(n).where(in_scope(n.organisation_id, scope))
    if connection_id is not None:
        query = query.where(n.connection_id == connection_id)
    if state is not None:
        query = query.where(n.state == state)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(n.created_at.desc(), n.id.desc()).offset(offset).limit(limit))
    return rows.all(), total


async def reseal_channel_secrets(session: AsyncSession, box: secretbox.SecretBox) -> tuple[int, list[str]]:
    """Re-encrypt every channel's secrets under the box's first key (clear ones included).

    The stored values are read and written raw (not through :class:`SealedText`), so a value
    no key decrypts is reported, not silently kept. Returns (channels re-encrypted, ids of
    those that could not be decrypted).
    """
    raw = sa_table(
        "alert_channels", column("id"), column("url"), column("signing_secret"), column("routing_key")
    )
    rows = (await session.execute(select(raw.c.id, raw.c.url, raw.c.signing_secret, raw.c.routing_key))).all()
    done, stuck = 0, []
    for channel_id, url, secret, routing_key in rows:
        try:
            values = {
                "url": box.reseal(url),
                "signing_secret": None if secret is None else box.reseal(secret),
                "routing_key": None if routing_key is None else box.reseal(routing_key),
            }
        except InvalidToken:
            stuck.append(channel_id)
            continue
        await session.execute(update(raw).where(raw.c.id == channel_id).values(**values))
        done += 1
    return done, stuck


async def forget_heartbeats(session: AsyncSession, channel_id: str) -> None:
    """Every scheduler's heartbeat schedule for the channel: the next pass starts afresh."""
    await session.execute(
        delete(ChannelHeartbeat)
        .where(ChannelHeartbeat.channel_id == channel_id)
        .execution_options(synchronize_session=False)
    )


async def heartbeats(session: AsyncSession, channel_id: str) -> Sequence[ChannelHeartbeat]:
    h = ChannelHeartbeat
    found = await session.scalars(select(h).where(h.channel_id == channel_id).order_by(h.scheduler_id))
    return found.all()


async def last_deliveries(
    session: AsyncSession, scope: Scope, channel_ids: Sequence[str]
) -> dict[str, Notification]:
    """Each channel's newest notification that was sent at least once, in one query.

    A notification that never went out (held back, cancelled, not yet tried) says nothing
    about the channel, so only attempted ones count. The organisation is in the outer query
    and the subquery is keyed by the channel, so no other organisation's row can come back.
    """
    if not channel_ids:
        return {}
    n, newest = Notification, aliased(Notification)
    newest_id = (
        select(newest.id)
        .where(newest.channel_id == AlertChannel.id, newest.attempts > 0)
        .order_by(newest.created_at.desc(), newest.id.desc())
        .limit(1)
        .correlate(AlertChannel)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(n)
        .join(AlertChannel, n.id == newest_id)
        .where(
            in_scope(AlertChannel.organisation_id, scope),
            in_scope(n.organisation_id, scope),
            one_of(session, AlertChannel.id, list(channel_ids)),
        )
    )
    return {found.channel_id: found for found in rows.scalars()}


async def heartbeats_of(
    session: AsyncSession, scope: Scope, channel_ids: Sequence[str]
) -> dict[str, list[ChannelHeartbeat]]:
    """Each scheduler's heartbeats to each of the channels, in one query (platform channels
    send none)."""
    if not channel_ids or scope is None:
        return {}
    h = ChannelHeartbeat
    rows = await session.scalars(
        select(h)
        .where(h.organisation_id == scope, one_of(session, h.channel_id, list(channel_ids)))
        .order_by(h.channel_id, h.scheduler_id)
    )
    out: dict[str, list[ChannelHeartbeat]] = {}
    for row in rows:
        out.setdefault(row.channel_id, []).append(row)
    return out
