"""The watchdog (SPEC §7.5): heartbeats from every healthy scheduler to the channels that ask.

A dead man's switch: the receiver alerts when heartbeats stop, so a pipepulse that has stopped
evaluating is noticed by something outside it. Every scheduler sends its own heartbeats from
its alert pass (so one stopped replica among several is noticed by its ``scheduler`` id), the
first at the next pass after a channel asks. A heartbeat is one attempt, never retried: a late
heartbeat would vouch for a time that has passed, and the next one is the retry. What the last
one came to is kept per channel and scheduler (``channel_heartbeats``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import ids
from pipepulse.db import dialect
from pipepulse.db.models import AlertChannel, ChannelHeartbeat, Organisation
from pipepulse.db.session import Database
from pipepulse.delivery import bodies, channels, sender

log = logging.getLogger(__name__)

HEARTBEAT_TYPE = bodies.HEARTBEAT_TYPE
MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 86_400
# PagerDuty would open an incident for every heartbeat, and a message a minute is no email.
KINDS = ("webhook", "slack", "msteams", "alertmanager")
# A scheduler that has sent nothing for this long is gone (its id does not come back).
FORGET_AFTER = timedelta(days=1)
CONCURRENCY = 16


def refusal(kind: str) -> str | None:
    """Why a channel of ``kind`` takes no heartbeats, or None when it does."""
    if kind in KINDS:
        return None
    why = (
        "PagerDuty would open an incident for each"
        if kind == "pagerduty"
        else "one email a minute buries an inbox"
    )
    return (
        f"a {kind} channel takes no heartbeats ({why}): point a webhook channel at a dead man's switch"
        " (or send them to an alertmanager channel)"
    )


def payload(
    *,
    notification_id: str,
    now: datetime,
    organisation: dict[str, Any],
    channel: dict[str, Any],
    scheduler: str,
    interval_seconds: int,
    dashboard: str,
) -> dict[str, Any]:
    """The heartbeat body: the webhook shape of SPEC §7.3 with ``type: heartbeat``."""
    return bodies.webhook_payload(
        notification_id=notification_id,
        type=HEARTBEAT_TYPE,
        occurred_at=now,
        organisation=organisation,
        connection=None,
        data={"scheduler": scheduler, "interval_seconds": interval_seconds, "channel": channel},
        telemetry=None,
        dashboard=dashboard,
    )


@dataclass(frozen=True)
class Due:
    channel_id: str
    organisation_id: int
    interval_seconds: int
    payload: dict[str, Any]
    target: channels.Target


async def _claim(session: AsyncSession, now: datetime, scheduler: str, public_url: str) -> list[Due]:
    c, h, o = AlertChannel, ChannelHeartbeat, Organisation
    await session.execute(
        delete(h).where(h.next_at < now - FORGET_AFTER).execution_options(synchronize_session=False)
    )
    rows = (
        await session.execute(
            select(
                c.id,
                c.organisation_id,
                c.name,
                c.kind,
                c.url,
                c.signing_secret,
                c.heartbeat_interval_seconds,
                o.slug,
                h.next_at,
            )
            .join(o, o.id == c.organisation_id)
            .outerjoin(h, (h.channel_id == c.id) & (h.scheduler_id == scheduler))
            .where(c.heartbeat_interval_seconds.is_not(None), c.enabled.is_(True))
            .order_by(c.id)
        )
    ).all()
    due = [row for row in rows if row.next_at is None or dialect.as_utc(row.next_at) <= now]  # type: ignore[operator]
    out = []
    for row in due:
        interval = int(row.heartbeat_interval_seconds)
        stmt = dialect.insert(dialect.name_of(session), h)
        await session.execute(
            stmt.values(
                channel_id=row.id,
                scheduler_id=scheduler,
                organisation_id=row.organisation_id,
                next_at=now + timedelta(seconds=interval),
            ).on_conflict_do_update(
                index_elements=["organisation_id", "channel_id", "scheduler_id"],
                set_={"next_at": now + timedelta(seconds=interval)},
            )
        )
        body = payload(
            notification_id=ids.notification_id(now),
            now=now,
            organisation={"id": row.organisation_id, "slug": row.slug},
            channel={"id": row.id, "name": row.name},
            scheduler=scheduler,
            interval_seconds=interval,
            dashboard=bodies.dashboard_link(public_url, row.organisation_id, None),
        )
        target = channels.Target(id=row.id, kind=row.kind, url=row.url, signing_secret=row.signing_secret)
        out.append(Due(row.id, row.organisation_id, interval, body, target))
    return out


async def send_due(
    db: Database,
    now: datetime,
    *,
    scheduler: str,
    options: channels.Options,
    public_url: str,
    client: sender.Client | None = None,
) -> int:
    """Send this scheduler's heartbeats that are due; answers how many receivers took theirs."""
    async with db.session(write=True) as session:
        due = await _claim(session, now, scheduler, public_url)
    if not due:
        return 0
    own_client = client is None
    http = client or sender.new_client()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def attempt(item: Due) -> sender.Outcome:
        async with gate:
            return await channels.deliver(http, item.target, item.payload, now=now, options=options)

    try:
        outcomes = await asyncio.gather(*(attempt(item) for item in due))
    finally:
        if own_client:
            await http.aclose()
    h = ChannelHeartbeat
    async with db.session(write=True) as session:
        for item, outcome in zip(due, outcomes, strict=True):
            values: dict[str, Any] = {
                "last_sent_at": now,
                "last_status_code": outcome.status_code,
                "last_error": outcome.error,
            }
            if outcome.delivered:
                values["last_delivered_at"] = now
            else:
                log.warning(
                    "heartbeat not delivered: %s",
                    outcome.error,
                    extra={"channel_id": item.channel_id, "scheduler_id": scheduler},
                )
            await session.execute(
                update(h)
                .where(h.channel_id == item.channel_id, h.scheduler_id == scheduler)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
    return sum(1 for outcome in outcomes if outcome.delivered)
