"""What the organisation's Alerts page shows (channels, rules, what each channel last did and
the delivery log) and the notifications a connection's page lists, in words for people.

The page's routes and forms are in ``dashboard/alerts.py``; the answers come from the same
services as the JSON API (``watch.alerts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import wording
from pipepulse.alerts import repository as alerts_repository
from pipepulse.alerts import service as alerts_service
from pipepulse.auth import scopes
from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections import repository as connections_repository
from pipepulse.dashboard.rendering import templates
from pipepulse.db.models import AlertChannel, AlertRule, Notification, Organisation, WarehouseConnection
from pipepulse.delivery import group_bodies, urls
from pipepulse.organisations import service as organisations_service

LOG_ROWS = 50
CONNECTION_LOG_ROWS = 10
EVENT_WORDS = {
    "status:error": "Status becomes Error",
    "status:degraded": "Status becomes Degraded",
    "status:idle": "Status becomes Idle",
    "recovered": "Recovered (Active again after Error or Degraded)",
    "late": "Late (past its freshness SLA)",
    "fresh": "Fresh again",
    "volume_anomaly": "Volume anomaly (drop or spike)",
    "budget_burn_fast": "Error budget burning fast",
    "budget_burn_slow": "Error budget burning slowly",
}
TYPE_WORDS = {
    "connection.status_changed": "Status changed",
    "connection.late": "Late",
    "connection.fresh": "Fresh again",
    "connection.volume_anomaly": "Volume anomaly",
    "alert_group": "Alert group",
    "test": "Test",
}
templates.env.globals["type_words"] = TYPE_WORDS


@dataclass(frozen=True)
class LogRow:
    notification: Notification
    connection_name: str | None
    channel_name: str
    summary: str


@dataclass(frozen=True)
class AlertsPage:
    organisation: Organisation
    can_change: bool
    channels: Sequence[AlertChannel]
    channel_urls: dict[str, str]
    rules: Sequence[AlertRule]
    connections: Sequence[WarehouseConnection]
    log: list[LogRow]
    log_total: int
    # What each channel last did (the "_channel_status.html" panel).
    channel_status: alerts_service.ChannelStatus = field(
        default_factory=lambda: alerts_service.ChannelStatus(last={}, heartbeats={})
    )


def summary(notification: Notification) -> str:
    """One line saying what a notification said."""
    data = (notification.payload or {}).get("data") or {}
    if notification.type == group_bodies.GROUP_TYPE:
        headline, change, _why, _since = group_bodies.describe(notification.payload or {})
        return f"{headline} ({change})"
    if notification.type == "connection.status_changed":
        return f"{str(data.get('from', '')).title()} → {str(data.get('to', '')).title()}"
    if notification.type == "connection.volume_anomaly":
        actual, expected = data.get("actual"), data.get("expected")
        counts = [wording.number(round(v)) if isinstance(v, int | float) else "?" for v in (actual, expected)]
        return f"{data.get('verdict')}: {counts[0]} events, expected {counts[1]}"
    if notification.type == "connection.late":
        return wording.late(int(data.get("late_by_seconds") or 0), int(data.get("sla_seconds") or 0))
    return TYPE_WORDS.get(notification.type, notification.type)


async def log_rows(
    session: AsyncSession, organisation_id: int, notifications: Sequence[Notification]
) -> list[LogRow]:
    channels = {c.id: c.name for c in (await alerts_repository.channels(session, organisation_id))[0]}
    # Names of only the connections the rows mention (a page refreshes every 30 s).
    wanted = sorted({n.connection_id for n in notifications if n.connection_id})
    connections = (
        await connections_repository.refs(session, organisation_id=organisation_id, ids=wanted)
        if wanted
        else []
    )
    names = {c.id: c.name for c in connections}
    return [
        LogRow(
            notification=n,
            connection_name=names.get(n.connection_id) if n.connection_id else None,
            channel_name=channels.get(n.channel_id, n.channel_id),
            summary=summary(n),
        )
        for n in notifications
    ]


async def alerts_page(session: AsyncSession, principal: UserPrincipal, organisation_id: int) -> AlertsPage:
    organisation = await organisations_service.get_visible(session, principal, organisation_id)
    channels, _ = await alerts_repository.channels(session, organisation.id)
    rules, _ = await alerts_repository.rules(session, organisation.id)
    connections, _ = await connections_repository.page(session, organisation.id, offset=0, limit=None)
    notifications, total = await alerts_repository.notifications(
        session, organisation.id, connection_id=None, state=None, offset=0, limit=LOG_ROWS
    )
    status = await alerts_service.channel_status(session, organisation.id, [c.id for c in channels])
    return AlertsPage(
        organisation=organisation,
        can_change=scopes.WRITE_ALERTS in principal.scopes,
        channels=channels,
        channel_urls={c.id: urls.redact(c.url) for c in channels},
        rules=rules,
        connections=sorted(connections, key=lambda c: c.name.lower()),
        log=await log_rows(session, organisation.id, notifications),
        log_total=total,
        channel_status=status,
    )


async def connection_notifications(
    session: AsyncSession, organisation_id: int, connection_id: str
) -> list[LogRow]:
    """The newest notifications about one connection, for its Streaming Status page."""
    notifications, _ = await alerts_repository.notifications(
        session, organisation_id, connection_id=connection_id, state=None, offset=0, limit=CONNECTION_LOG_ROWS
    )
    return await log_rows(session, organisation_id, notifications)
