"""Channels, rules and the delivery log: the rules around them (SPEC §7.3)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import ids, secretbox
from pipepulse.alerts import bounds, firing_now
from pipepulse.alerts import repository as alerts_repository
from pipepulse.alerts.repository import Scope
from pipepulse.alerts.schemas import ChannelCreate, RuleCreate
from pipepulse.auth.principals import UserPrincipal
from pipepulse.db.models import AlertChannel, AlertRule, ChannelHeartbeat, Notification, Organisation
from pipepulse.db.session import Database
from pipepulse.delivery import bodies, channels, heartbeats, outbox_repository, sender, urls
from pipepulse.delivery import service as delivery
from pipepulse.delivery.channels import keys
from pipepulse.errors import Forbidden, Invalid, ServiceUnavailable, is_database_unavailable
from pipepulse.kit.lookup import found_or_404
from pipepulse.organisations import service as organisations_service

log = logging.getLogger(__name__)


class NoKeyToEncrypt(ServiceUnavailable):
    """The server has no key to encrypt channel secrets with: its operator must set one."""

    headers = None


class PlatformOnly(Forbidden):
    """The platform's channels and rules are for platform tokens only."""


async def check_scope(session: AsyncSession, principal: UserPrincipal, scope: Scope) -> None:
    """The token may see the scope: its organisation (404 as if missing otherwise, SPEC §4.1),
    or the platform's (a platform token only: 403 for an organisation's token)."""
    if scope is None:
        if not principal.is_platform:
            raise PlatformOnly(
                "the platform's alert channels, rules, silences and groups need a platform token"
            )
        return
    await organisations_service.get_visible(session, principal, scope)


def _where(scope: Scope) -> str:
    return "this organisation" if scope is not None else "any organisation"


TEST_MESSAGE = "This is a test notification: the channel is set up and pipepulse can reach it."


async def create_channel(
    session: AsyncSession,
    principal: UserPrincipal,
    scope: Scope,
    body: ChannelCreate,
    now: datetime,
    *,
    allow_private: bool,
    max_channels: int = 20,
) -> AlertChannel:
    await check_scope(session, principal, scope)
    await bounds.check_channels(session, scope, max_channels)
    if secretbox.current() is None:
        raise NoKeyToEncrypt(keys.refusal())
    if body.url is not None:
        try:
            await urls.check(body.url, allow_private=allow_private)
        except urls.UnsafeURL as exc:
            raise Invalid(str(exc), loc=("body", "url")) from None
    channel = AlertChannel(
        id=ids.alert_channel_id(),
        organisation_id=scope,
        name=body.name,
        kind=body.kind,
        url=body.url or "",
        routing_key=body.routing_key,
        recipients=body.to,
        # Slack checks nothing we could sign; its URL is the credential.
        signing_secret=ids.signing_secret() if body.kind == "webhook" else None,
        enabled=True,
        created_at=now,
    )
    session.add(channel)
    await session.flush()
    return channel


async def get_channel(
    session: AsyncSession, principal: UserPrincipal, scope: Scope, channel_id: str
) -> AlertChannel:
    """The channel, or 404 when it, or its organisation, is not the token's to see."""
    await check_scope(session, principal, scope)
    channel = await alerts_repository.channel(session, scope, channel_id)
    return found_or_404(channel, "alert channel not found")


async def list_channels(
    session: AsyncSession, principal: UserPrincipal, scope: Scope, *, offset: int, limit: int | None
) -> tuple[Sequence[AlertChannel], int]:
    await check_scope(session, principal, scope)
    return await alerts_repository.channels(session, scope, offset=offset, limit=limit)


async def delete_channel(
    session: AsyncSession, principal: UserPrincipal, scope: Scope, channel_id: str
) -> None:
    channel = await get_channel(session, principal, scope, channel_id)
    await alerts_repository.delete_channel(session, channel.id)


async def set_heartbeat(
    session: AsyncSession,
    principal: UserPrincipal,
    scope: Scope,
    channel_id: str,
    interval_seconds: int | None,
) -> AlertChannel:
    """Start (or change, or with None stop) a channel's heartbeats (SPEC §7.5); the first of a
    new interval goes out at the next delivery pass."""
    channel = await get_channel(session, principal, scope, channel_id)
    if interval_seconds is not None and (why := heartbeats.refusal(channel.kind)) is not None:
        raise Invalid(why, loc=("path", "channel_id"))
    channel.heartbeat_interval_seconds = interval_seconds
    await alerts_repository.forget_heartbeats(session, channel.id)
    await session.flush()
    return channel


async def channel_heartbeats(
    session: AsyncSession, principal: UserPrincipal, scope: Scope, channel_id: str
) -> tuple[AlertChannel, Sequence[ChannelHeartbeat]]:
    """The channel and each scheduler's heartbeats to it."""
    channel = await get_channel(session, principal, scope, channel_id)
    return channel, await alerts_repository.heartbeats(session, channel.id)


@dataclass(frozen=True)
class ChannelStatus:
    """What channels last did: each one's last delivery and each scheduler's last heartbeat."""

    last: dict[str, Notification]
    heartbeats: dict[str, list[ChannelHeartbeat]]


async def channel_status(session: AsyncSession, scope: Scope, channel_ids: Sequence[str]) -> ChannelStatus:
    """For channels already checked to be the organisation's: two queries, however many channels."""
    return ChannelStatus(
        last=await alerts_repository.last_deliveries(session, scope, channel_ids),
        heartbeats=await alerts_repository.heartbeats_of(session, scope, channel_ids),
    )


async def test_channel(
    db: Database,
    organisation: Organisation | None,
    channel: AlertChannel,
    now: datetime,
    *,
    public_url: str,
    options: channels.Options,
) -> sender.Outcome:
    """Send a ``test`` notification now and log it.

    ``organisation`` None: a platform channel's test (its body's ``organisation`` is null).
    The send happens with no transaction open (it may take 10 s, and on SQLite an open write
    transaction would hold up every other writer); the log entry is written afterwards.
    """
    notification_id = ids.notification_id(now)
    payload = bodies.webhook_payload(
        notification_id=notification_id,
        type=bodies.TEST_TYPE,
        occurred_at=now,
        organisation=None if organisation is None else {"id": organisation.id, "slug": organisation.slug},
        connection=None,
        data={"message": TEST_MESSAGE, "channel": {"id": channel.id, "name": channel.name}},
        telemetry=None,
        dashboard=bodies.dashboard_link(public_url, channel.organisation_id, None),
    )
    if not channel.enabled:
        outcome = sender.Outcome(
            False, None, f"not sent: the channel is disabled ({channel.disabled_reason})"
        )
    else:
        async with sender.new_client() as client:
            outcome = await channels.deliver(
                client,
                channels.target_of(channel),
                payload,
                now=now,
                options=options,
            )
    fields = {
        "notification_id": notification_id,
        "organisation_id": channel.organisation_id,
        "channel_id": channel.id,
        "kind": channel.kind,
        "status_code": outcome.status_code,
    }
    # Logged before the delivery log is written: if the database is down by now, the receiver
    # may have the test although the answer is a 503, and this line says so.
    if outcome.delivered:
        log.info("test notification delivered", extra=fields)
    else:
        log.warning("test notification not delivered: %s", outcome.error, extra=fields)
    try:
        await _log_test(db, notification_id, channel, payload, outcome, now)
    except Exception as exc:
        if is_database_unavailable(exc):
            log.warning(
                "test notification %s: the delivery log entry could not be written (database"
                " unavailable); the receiver's answer is logged above",
                notification_id,
                extra=fields,
            )
        raise
    return outcome


async def _log_test(
    db: Database,
    notification_id: str,
    channel: AlertChannel,
    payload: dict[str, Any],
    outcome: sender.Outcome,
    now: datetime,
) -> None:
    async with db.session(write=True) as session:
        session.add(
            Notification(
                id=notification_id,
                organisation_id=channel.organisation_id,
                channel_id=channel.id,
                event_id=None,
                rule_id=None,
                connection_id=None,
                type=bodies.TEST_TYPE,
                payload=payload,
                state="delivered" if outcome.delivered else "failed",
                attempts=1 if channel.enabled else 0,
                hold_until=None,
                due_at=now,
                next_attempt_at=None,
                last_status_code=outcome.status_code,
                last_error=outcome.error,
                created_at=now,
                delivered_at=now if outcome.delivered else None,
            )
        )
        if outcome.gone:
            await outbox_repository.disable_channel(session, channel.id, delivery.GONE_REASON, now)


async def create_rule(
    session: AsyncSession,
    principal: UserPrincipal,
    scope: Scope,
    body: RuleCreate,
    now: datetime,
    *,
    max_rules: int = 100,
) -> AlertRule:
    await check_scope(session, principal, scope)
    if await alerts_repository.channel(session, scope, body.channel_id) is None:
        raise Invalid(
            f"there is no alert channel {body.channel_id!r} in {_where(scope)}", loc=("body", "channel_id")
        )
    connection_ids = None
    if body.connection_ids is not None:
        connection_ids = list(dict.fromkeys(body.connection_ids))
        found = await alerts_repository.existing_connections(session, scope, connection_ids)
        missing = [cid for cid in connection_ids if cid not in found]
        if missing:
            raise Invalid(
                f"no warehouse connection {', '.join(map(repr, missing[:5]))} in {_where(scope)}",
                loc=("body", "connection_ids"),
            )
    values = {
        "channel_id": body.channel_id,
        "events": list(dict.fromkeys(body.events)),
        "connection_ids": connection_ids,
        "min_duration_seconds": body.min_duration_seconds,
        "severity": body.severity,
        "group_by": list(dict.fromkeys(body.group_by)),
        "group_wait_seconds": body.group_wait_seconds,
        "group_interval_seconds": body.group_interval_seconds,
        "repeat_interval_seconds": body.repeat_interval_seconds,
    }
    await bounds.check_rule(session, scope, values, max_rules)
    rule = AlertRule(
        id=ids.alert_rule_id(),
        organisation_id=scope,
        channel_id=body.channel_id,
        events=values["events"],
        connection_ids=connection_ids,
        min_duration_seconds=body.min_duration_seconds,
        created_at=now,
        severity=body.severity,
        group_by=values["group_by"],
        group_wait_seconds=body.group_wait_seconds,
        group_interval_seconds=body.group_interval_seconds,
        repeat_interval_seconds=body.repeat_interval_seconds,
    )
    session.add(rule)
    await session.flush()
    # What already fires in its scope is news to the new rule, told at the next group pass.
    await firing_now.adopt_firing(session, rule, now)
    return rule


async def get_rule(session: AsyncSession, principal: UserPrincipal, scope: Scope, rule_id: str) -> AlertRule:
    await check_scope(session, principal, scope)
    rule = await alerts_repository.rule(session, scope, rule_id)
    return found_or_404(rule, "alert rule not found")


async def list_rules(
    session: AsyncSession, principal: UserPrincipal, scope: Scope, *, offset: int, limit: int | None
) -> tuple[Sequence[AlertRule], int]:
    await check_scope(session, principal, scope)
    return await alerts_repository.rules(session, scope, offset=offset, limit=limit)


async def delete_rule(session: AsyncSession, principal: UserPrincipal, scope: Scope, rule_id: str) -> None:
    rule = await get_rule(session, principal, scope, rule_id)
    await alerts_repository.delete_rule(session, rule.id)


async def delivery_log(
    session: AsyncSession,
    principal: UserPrincipal,
    scope: Scope,
    *,
    connection_id: str | None,
    state: str | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Notification], int]:
    await check_scope(session, principal, scope)
    return await alerts_repository.notifications(
        session, scope, connection_id=connection_id, state=state, offset=offset, limit=limit
    )
