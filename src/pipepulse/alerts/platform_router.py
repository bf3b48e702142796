"""The platform's alert channels, rules and delivery log (SPEC §7.4 platform scope).

``/platform/alert-channels/``, ``/platform/alert-rules/`` and ``/platform/notifications/`` take
the organisations' bodies and answer as they do, through the same service functions with the
platform's scope (None). Their rules match alerts of every organisation. Platform tokens only:
an organisation's token is refused (403), and never sees them under its organisation either.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from pipepulse.alerts import service as alerts_service
from pipepulse.alerts.router import (
    ChannelId,
    Db,
    Reader,
    RuleId,
    Tester,
    Writer,
    channel_out,
    notification_out,
    rule_out,
)
from pipepulse.alerts.schemas import (
    ChannelCreate,
    ChannelCreated,
    ChannelOut,
    NotificationOut,
    NotificationState,
    RuleCreate,
    RuleOut,
    TestResult,
)
from pipepulse.delivery import channels, send_limit
from pipepulse.deps import AppSettings, Now, ReadSession, WriteSession
from pipepulse.schemas import API_PREFIX, ID_PATTERN, Page, PageNumber, PageSize

router = APIRouter(prefix=API_PREFIX, tags=["alerts"])

PLATFORM = None  # the platform's scope: channels and rules of no organisation
CHANNELS = "/platform/alert-channels"
CHANNEL = CHANNELS + "/{channel_id}"
RULES = "/platform/alert-rules"
RULE = RULES + "/{rule_id}"


@router.post(CHANNELS + "/", response_model=ChannelCreated, status_code=201)
async def platform_create_channel(
    body: ChannelCreate, session: WriteSession, principal: Writer, now: Now, settings: AppSettings
) -> ChannelCreated:
    """Add a platform channel (platform tokens only); a webhook's signing secret is in this answer only."""
    channel = await alerts_service.create_channel(
        session,
        principal,
        PLATFORM,
        body,
        now,
        allow_private=settings.alerts_allow_private_urls,
        max_channels=settings.alerts_max_channels_per_org,
    )
    return ChannelCreated(**channel_out(channel).model_dump(), signing_secret=channel.signing_secret)


@router.get(CHANNELS + "/", response_model=Page[ChannelOut])
async def platform_list_channels(
    session: ReadSession, principal: Reader, page: PageNumber = 1, size: PageSize = 50
) -> Page[ChannelOut]:
    """The platform's alert channels, oldest first (URLs shown as scheme and host only)."""
    rows, total = await alerts_service.list_channels(
        session, principal, PLATFORM, offset=(page - 1) * size, limit=size
    )
    status = await alerts_service.channel_status(session, PLATFORM, [r.id for r in rows])
    return Page.of([channel_out(r, status.last.get(r.id)) for r in rows], page=page, size=size, total=total)


@router.get(CHANNEL + "/", response_model=ChannelOut)
async def platform_get_channel(channel_id: ChannelId, session: ReadSession, principal: Reader) -> ChannelOut:
    """Read one platform channel, with its last delivery."""
    channel = await alerts_service.get_channel(session, principal, PLATFORM, channel_id)
    status = await alerts_service.channel_status(session, PLATFORM, [channel.id])
    return channel_out(channel, status.last.get(channel.id))


@router.delete(CHANNEL + "/", status_code=204)
async def platform_delete_channel(
    channel_id: ChannelId, session: WriteSession, principal: Writer
) -> Response:
    """Delete a platform channel, its rules and its delivery log."""
    await alerts_service.delete_channel(session, principal, PLATFORM, channel_id)
    return Response(status_code=204)


@router.post(CHANNEL + "/test/", response_model=TestResult)
async def platform_test_channel(
    channel_id: ChannelId,
    session: ReadSession,
    principal: Tester,
    db: Db,
    now: Now,
    settings: AppSettings,
    request: Request,
) -> TestResult:
    """Send a `test` notification to a platform channel now (a few a minute)."""
    channel = await alerts_service.get_channel(session, principal, PLATFORM, channel_id)
    limit: send_limit.TestSendLimit = request.app.state.test_send_limit
    limit.take(PLATFORM, channel.id, now)
    # Release the read transaction before the (slow) send.
    await session.commit()
    outcome = await alerts_service.test_channel(
        db, None, channel, now, public_url=settings.public_url, options=channels.options_from(settings)
    )
    return TestResult(delivered=outcome.delivered, status_code=outcome.status_code, error=outcome.error)


@router.post(RULES + "/", response_model=RuleOut, status_code=201)
async def platform_create_rule(
    body: RuleCreate, session: WriteSession, principal: Writer, now: Now, settings: AppSettings
) -> RuleOut:
    """Send alerts of every organisation's connections (or of some) to a platform channel."""
    rule = await alerts_service.create_rule(
        session, principal, PLATFORM, body, now, max_rules=settings.alerts_max_rules_per_org
    )
    return rule_out(rule)


@router.get(RULES + "/", response_model=Page[RuleOut])
async def platform_list_rules(
    session: ReadSession, principal: Reader, page: PageNumber = 1, size: PageSize = 50
) -> Page[RuleOut]:
    """The platform's alert rules, oldest first."""
    rows, total = await alerts_service.list_rules(
        session, principal, PLATFORM, offset=(page - 1) * size, limit=size
    )
    return Page.of([rule_out(r) for r in rows], page=page, size=size, total=total)


@router.get(RULE + "/", response_model=RuleOut)
async def platform_get_rule(rule_id: RuleId, session: ReadSession, principal: Reader) -> RuleOut:
    """Read one platform rule."""
    return rule_out(await alerts_service.get_rule(session, principal, PLATFORM, rule_id))


@router.delete(RULE + "/", status_code=204)
async def platform_delete_rule(rule_id: RuleId, session: WriteSession, principal: Writer) -> Response:
    """Delete a platform rule (what it already queued is still delivered)."""
    await alerts_service.delete_rule(session, principal, PLATFORM, rule_id)
    return Response(status_code=204)


@router.get("/platform/notifications/", response_model=Page[NotificationOut])
async def platform_delivery_log(
    session: ReadSession,
    principal: Reader,
    connection_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="Only notifications of groups of this connection.")
    ] = None,
    state: Annotated[NotificationState | None, Query(description="Only notifications in this state.")] = None,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> Page[NotificationOut]:
    """The platform's delivery log: its channels' notifications, newest first."""
    rows, total = await alerts_service.delivery_log(
        session,
        principal,
        PLATFORM,
        connection_id=connection_id,
        state=state,
        offset=(page - 1) * size,
        limit=size,
    )
    return Page.of([notification_out(r) for r in rows], page=page, size=size, total=total)
