from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from pipepulse.alerts import service as alerts_service
from pipepulse.alerts.schemas import (
    ChannelCreate,
    ChannelCreated,
    ChannelOut,
    HeartbeatOut,
    HeartbeatSet,
    LastDelivery,
    NotificationOut,
    NotificationState,
    RuleCreate,
    RuleOut,
    SchedulerHeartbeats,
    TestResult,
)
from pipepulse.auth import scopes
from pipepulse.auth.dependencies import user
from pipepulse.auth.principals import UserPrincipal
from pipepulse.db.models import AlertChannel, AlertRule, ChannelHeartbeat, Notification
from pipepulse.db.session import Database
from pipepulse.delivery import channels, send_limit, urls
from pipepulse.deps import AppSettings, Now, ReadSession, WriteSession, get_database
from pipepulse.organisations import service as organisations_service
from pipepulse.schemas import API_PREFIX, ID_PATTERN, OrganisationPk, Page, PageNumber, PageSize

router = APIRouter(prefix=API_PREFIX, tags=["alerts"])
Reader = Annotated[UserPrincipal, Depends(user(scopes.READ_PIPELINE_METRICS))]
Writer = Annotated[UserPrincipal, Depends(user(scopes.WRITE_ALERTS, write=True))]
# The test send reads, sends with no transaction open, then logs in a transaction of its own.
Tester = Annotated[UserPrincipal, Depends(user(scopes.WRITE_ALERTS))]
Db = Annotated[Database, Depends(get_database)]

ORG = "/organisations/{organisation_pk}"
CHANNELS = ORG + "/alert-channels"
CHANNEL = CHANNELS + "/{channel_id}"
RULES = ORG + "/alert-rules"
RULE = RULES + "/{rule_id}"
ChannelId = Annotated[str, Path(pattern=r"^ach_[0-9a-f]{16}$", description="The channel id, ach_….")]
RuleId = Annotated[str, Path(pattern=r"^arl_[0-9a-f]{16}$", description="The rule id, arl_….")]


def last_delivery_out(notification: Notification | None) -> LastDelivery | None:
    if notification is None:
        return None
    return LastDelivery(
        notification_id=notification.id,
        type=notification.type,
        state=notification.state,
        attempts=notification.attempts,
        created_at=notification.created_at,
        delivered_at=notification.delivered_at,
        next_attempt_at=notification.next_attempt_at,
        last_status_code=notification.last_status_code,
        last_error=notification.last_error,
    )


def scheduler_heartbeats_out(row: ChannelHeartbeat) -> SchedulerHeartbeats:
    return SchedulerHeartbeats.model_validate(row, from_attributes=True)


def channel_out(
    channel: AlertChannel,
    last: Notification | None = None,
    heartbeats: Sequence[ChannelHeartbeat] = (),
) -> ChannelOut:
    return ChannelOut(
        id=channel.id,
        organisation_id=channel.organisation_id,
        name=channel.name,
        kind=channel.kind,
        url=urls.redact(channel.url) if channel.url else "",
        to=channel.recipients,
        enabled=channel.enabled,
        disabled_reason=channel.disabled_reason,
        created_at=channel.created_at,
        disabled_at=channel.disabled_at,
        heartbeat_interval_seconds=channel.heartbeat_interval_seconds,
        last_delivery=last_delivery_out(last),
        heartbeats=[scheduler_heartbeats_out(h) for h in heartbeats],
    )


def rule_out(rule: AlertRule) -> RuleOut:
    return RuleOut.model_validate(rule, from_attributes=True)


def notification_out(notification: Notification) -> NotificationOut:
    return NotificationOut.model_validate(notification, from_attributes=True)


@router.post(CHANNELS + "/", response_model=ChannelCreated, status_code=201)
async def create_channel(
    organisation_pk: OrganisationPk,
    body: ChannelCreate,
    session: WriteSession,
    principal: Writer,
    now: Now,
    settings: AppSettings,
) -> ChannelCreated:
    """Add a webhook or Slack channel; a webhook's signing secret is in this answer only."""
    channel = await alerts_service.create_channel(
        session,
        principal,
        organisation_pk,
        body,
        now,
        allow_private=settings.alerts_allow_private_urls,
        max_channels=settings.alerts_max_channels_per_org,
    )
    return ChannelCreated(**channel_out(channel).model_dump(), signing_secret=channel.signing_secret)


@router.get(CHANNELS + "/", response_model=Page[ChannelOut])
async def list_channels(
    organisation_pk: OrganisationPk,
    session: ReadSession,
    principal: Reader,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> Page[ChannelOut]:
    """The organisation's alert channels, oldest first (URLs shown as scheme and host only)."""
    rows, total = await alerts_service.list_channels(
        session, principal, organisation_pk, offset=(page - 1) * size, limit=size
    )
    ids = [r.id for r in rows]
    status = await alerts_service.channel_status(session, organisation_pk, ids)
    return Page.of(
        [channel_out(r, status.last.get(r.id), status.heartbeats.get(r.id, ())) for r in rows],
        page=page,
        size=size,
        total=total,
    )


@router.get(CHANNEL + "/", response_model=ChannelOut)
async def get_channel(
    organisation_pk: OrganisationPk, channel_id: ChannelId, session: ReadSession, principal: Reader
) -> ChannelOut:
    """Read one alert channel, with what it last did (its last delivery and heartbeats)."""
    channel = await alerts_service.get_channel(session, principal, organisation_pk, channel_id)
    status = await alerts_service.channel_status(session, organisation_pk, [channel.id])
    return channel_out(channel, status.last.get(channel.id), status.heartbeats.get(channel.id, ()))


@router.delete(CHANNEL + "/", status_code=204)
async def delete_channel(
    organisation_pk: OrganisationPk, channel_id: ChannelId, session: WriteSession, principal: Writer
) -> Response:
    """Delete a channel, its rules and its delivery log."""
    await alerts_service.delete_channel(session, principal, organisation_pk, channel_id)
    return Response(status_code=204)


@router.post(CHANNEL + "/heartbeat/", response_model=ChannelOut)
async def set_heartbeat(
    organisation_pk: OrganisationPk,
    channel_id: ChannelId,
    body: HeartbeatSet,
    session: WriteSession,
    principal: Writer,
) -> ChannelOut:
    """Watchdog: every healthy scheduler sends a `heartbeat` to this channel on this interval."""
    channel = await alerts_service.set_heartbeat(
        session, principal, organisation_pk, channel_id, body.interval_seconds
    )
    status = await alerts_service.channel_status(session, organisation_pk, [channel.id])
    return channel_out(channel, status.last.get(channel.id), status.heartbeats.get(channel.id, ()))


@router.get(CHANNEL + "/heartbeat/", response_model=HeartbeatOut)
async def get_heartbeat(
    organisation_pk: OrganisationPk, channel_id: ChannelId, session: ReadSession, principal: Reader
) -> HeartbeatOut:
    """Watchdog: the channel's heartbeat interval and how each scheduler's last heartbeat went."""
    channel, rows = await alerts_service.channel_heartbeats(session, principal, organisation_pk, channel_id)
    return HeartbeatOut(
        interval_seconds=channel.heartbeat_interval_seconds,
        schedulers=[SchedulerHeartbeats.model_validate(r, from_attributes=True) for r in rows],
    )


@router.delete(CHANNEL + "/heartbeat/", status_code=204)
async def stop_heartbeat(
    organisation_pk: OrganisationPk, channel_id: ChannelId, session: WriteSession, principal: Writer
) -> Response:
    """Stop the channel's heartbeats."""
    await alerts_service.set_heartbeat(session, principal, organisation_pk, channel_id, None)
    return Response(status_code=204)


@router.post(CHANNEL + "/test/", response_model=TestResult)
async def test_channel(
    organisation_pk: OrganisationPk,
    channel_id: ChannelId,
    session: ReadSession,
    principal: Tester,
    db: Db,
    now: Now,
    settings: AppSettings,
    request: Request,
) -> TestResult:
    """Send a `test` notification now and say whether the receiver took it (a few a minute)."""
    organisation = await organisations_service.get_visible(session, principal, organisation_pk)
    channel = await alerts_service.get_channel(session, principal, organisation_pk, channel_id)
    limit: send_limit.TestSendLimit = request.app.state.test_send_limit
    limit.take(organisation.id, channel.id, now)
    # Release the read transaction before the (slow) send.
    await session.commit()
    outcome = await alerts_service.test_channel(
        db,
        organisation,
        channel,
        now,
        public_url=settings.public_url,
        options=channels.options_from(settings),
    )
    return TestResult(delivered=outcome.delivered, status_code=outcome.status_code, error=outcome.error)


@router.post(RULES + "/", response_model=RuleOut, status_code=201)
async def create_rule(
    organisation_pk: OrganisationPk,
    body: RuleCreate,
    session: WriteSession,
    principal: Writer,
    now: Now,
    settings: AppSettings,
) -> RuleOut:
    """Send some events of some (or all) connections to a channel."""
    rule = await alerts_service.create_rule(
        session, principal, organisation_pk, body, now, max_rules=settings.alerts_max_rules_per_org
    )
    return rule_out(rule)


@router.get(RULES + "/", response_model=Page[RuleOut])
async def list_rules(
    organisation_pk: OrganisationPk,
    session: ReadSession,
    principal: Reader,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> Page[RuleOut]:
    """The organisation's alert rules, oldest first."""
    rows, total = await alerts_service.list_rules(
        session, principal, organisation_pk, offset=(page - 1) * size, limit=size
    )
    return Page.of([rule_out(r) for r in rows], page=page, size=size, total=total)


@router.get(RULE + "/", response_model=RuleOut)
async def get_rule(
    organisation_pk: OrganisationPk, rule_id: RuleId, session: ReadSession, principal: Reader
) -> RuleOut:
    """Read one alert rule."""
    return rule_out(await alerts_service.get_rule(session, principal, organisation_pk, rule_id))


@router.delete(RULE + "/", status_code=204)
async def delete_rule(
    organisation_pk: OrganisationPk, rule_id: RuleId, session: WriteSession, principal: Writer
) -> Response:
    """Delete a rule (what it already queued is still delivered)."""
    await alerts_service.delete_rule(session, principal, organisation_pk, rule_id)
    return Response(status_code=204)


@router.get(ORG + "/notifications/", response_model=Page[NotificationOut])
async def delivery_log(
    organisation_pk: OrganisationPk,
    session: ReadSession,
    principal: Reader,
    connection_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="Only this connection's.")
    ] = None,
    state: Annotated[NotificationState | None, Query(description="Only notifications in this state.")] = None,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> Page[NotificationOut]:
    """The delivery log: every notification, newest first, with its attempts and last error."""
    rows, total = await alerts_service.delivery_log(
        session,
        principal,
        organisation_pk,
        connection_id=connection_id,
        state=state,
        offset=(page - 1) * size,
        limit=size,
    )
    return Page.of([notification_out(r) for r in rows], page=page, size=size, total=total)
