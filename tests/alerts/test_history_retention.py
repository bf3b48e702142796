"""Alert history under retention (SPEC §8 with §7.3): finished notifications and the events they
came from go with the raw runs' cutoff; what is still to be sent stays."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from pipepulse.alerts import prometheus as alerts_prometheus
from pipepulse.config import Settings
from pipepulse.db.models import AlertChannel, AlertEvent, Notification
from pipepulse.db.session import Database
from pipepulse.retention import service as retention
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.test_outbox import break_connection, log_items, setup_error_notification
from tests.alerts.world import channels_url
from tests.conftest import FrozenClock, Tenant, make_tenant

DAY = timedelta(days=1)


async def event_times(db: Database) -> list[datetime]:
    async with db.session() as session:
        found = await session.scalars(select(AlertEvent.created_at).order_by(AlertEvent.created_at))
        return list(found.all())


async def delivered_total(db: Database) -> float:
    """``pipepulse_notifications_total`` for delivered group notifications, as a scrape computes it
    (read directly: the endpoint shares one computation between scrapes 15 s apart)."""
    async with db.session() as session:
        text = (await alerts_prometheus.exposition(session, datetime.now(UTC))).decode()
    found = re.search(
        r'^pipepulse_notifications_total\{state="delivered",type="alert_group"\} (\S+)$',
        text,
        re.M,
    )
    return float(found.group(1)) if found else 0.0


async def test_tick__alert_history_older_than_run_retention__deleted_and_recent_history_kept(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    _, connection_id, broken_at = await setup_error_notification(client, tenant, service_key, clock, receiver)
    await alert_pass(db, alert_settings, broken_at + timedelta(minutes=1))
    await alert_pass(db, alert_settings, broken_at + 2 * DAY)  # idle: the rule asks for `recovered`
    old = await log_items(client, tenant)
    assert [item["state"] for item in old] == ["delivered", "delivered"]
    old_events = await event_times(db)
    assert len(old_events) >= 2

    # Two months on the connection breaks again: recent events, notified and delivered.
    clock.now = broken_at + 60 * DAY
    again = await break_connection(client, tenant, service_key, clock, connection_id)
    await alert_pass(db, alert_settings, again + timedelta(minutes=1))
    await alert_pass(db, alert_settings, again + 2 * DAY)  # idle again: resolved
    recent = [item for item in await log_items(client, tenant) if item not in old]
    assert [item["state"] for item in recent] == ["delivered", "delivered"]

    assert await delivered_total(db) == 4

    now = broken_at + 93 * DAY  # the first break is past the default 90 days, the second is not
    clock.now = now
    # `pipepulse retention --dry-run` counts the same history with its own statements.
    async with db.session() as session:
        preview = await retention.preview(session, now, alert_settings.thresholds)
    result = await runner.tick(db, alert_settings, NoDispatcher(), now)

    assert result.deleted is not None
    assert (result.deleted.notifications, result.deleted.alert_events) == (2, len(old_events))
    assert preview.counts() == result.deleted.counts()
    assert await log_items(client, tenant) == recent
    # The counter counts what was deleted too: a drop would read as a reset, and fire an alert.
    assert await delivered_total(db) == 4
    cutoff = now - alert_settings.thresholds.run_retention
    left = await event_times(db)
    assert left
    assert all(created >= cutoff for created in left)
    # Nothing is left to delete: the next tick's check finds no organisation.
    async with db.session() as session:
        assert await retention.organisations_due(session, now, alert_settings.thresholds) == []


async def test_retention__notification_still_pending_past_the_cutoff__kept(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    # The shortest retention, a failed first attempt and no delivery pass after it (a scheduler
    # stopped for a week): the notification is still pending when its day passes.
    settings = alert_settings.model_copy(update={"run_retention_days": 8})
    _, _, broken_at = await setup_error_notification(client, tenant, service_key, clock, receiver)
    receiver.default = 500
    await alert_pass(db, settings, broken_at + timedelta(minutes=1))
    [pending] = await log_items(client, tenant)
    assert (pending["state"], pending["attempts"]) == ("pending", 1)

    later = broken_at + 8 * DAY + timedelta(hours=1)
    async with db.session() as session:
        preview = await retention.preview(session, later, settings.thresholds)
    assert preview.notifications == 0
    deleted = await retention.apply(db, settings.thresholds, later)

    assert deleted.notifications == 0
    # Nor its event, which the notification still refers to: the preview counts alike.
    assert preview.counts() == deleted.counts()
    assert [item["id"] for item in await log_items(client, tenant)] == [pending["id"]]


@pytest.mark.parametrize("deleting", ["channel", "connection"])
async def test_delete_channel_or_connection__its_notifications_go__their_counter_does_not_drop(
    deleting: str,
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    channel, connection_id, broken_at = await setup_error_notification(
        client, tenant, service_key, clock, receiver
    )
    await alert_pass(db, alert_settings, broken_at + timedelta(minutes=1))
    assert await delivered_total(db) == 1
    url = (
        channels_url(tenant) + f"{channel['id']}/"
        if deleting == "channel"
        else tenant.connection_url(connection_id)
    )

    deleted = await client.delete(url, headers=tenant.write)

    assert deleted.status_code == 204, deleted.text
    assert await log_items(client, tenant) == []
    assert await delivered_total(db) == 1


async def test_retention__events_named_by_notifications__kept_while_one_is_unfinished(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    # Notifications written before alert groups name the event they were sent for (group and
    # test notifications name none): four old events, named by a pending, a delivered and a failed
    # notification, and by none; and one recorded on the cutoff itself (of a change a minute
    # before it), and a notification delivered then (of the pending one's event): both kept.
    channel, connection_id, broken_at = await setup_error_notification(
        client, tenant, service_key, clock, receiver
    )
    await alert_pass(db, alert_settings, broken_at + timedelta(minutes=1))
    async with db.session(write=True) as session:
        recorded = list((await session.scalars(select(AlertEvent))).all())
        first = recorded[0]
        cutoff = broken_at + 91 * DAY - alert_settings.thresholds.run_retention
        times = {"edge": (cutoff - timedelta(minutes=1), cutoff)}
        for name in ("pending", "delivered", "failed", "unnamed", "edge"):
            at, created_at = times.get(name, (first.at, first.created_at))
            session.add(
                AlertEvent(
                    id=f"aev_{name}", organisation_id=first.organisation_id, connection_id=connection_id,
                    type=first.type, key=f"{first.key}-{name}", at=at, data=first.data, created_at=created_at,
                )
            )  # fmt: skip
        await session.flush()
        for state in ("pending", "delivered", "failed", "edge"):
            created_at = cutoff if state == "edge" else first.created_at
            event_id = "aev_pending" if state == "edge" else f"aev_{state}"
            session.add(
                Notification(
                    id=f"ntf_{state}", organisation_id=first.organisation_id, channel_id=channel["id"],
                    event_id=event_id, rule_id=None, connection_id=connection_id, type="status",
                    payload={}, state="delivered" if state == "edge" else state, attempts=1,
                    hold_until=None, due_at=created_at,
                    next_attempt_at=created_at if state == "pending" else None, created_at=created_at,
                    delivered_at=None if state in ("pending", "failed") else created_at,
                )
            )  # fmt: skip
    now = broken_at + 91 * DAY

    async with db.session() as session:
        preview = await retention.preview(session, now, alert_settings.thresholds)
    # A batch deletes at most its limit of each.
    async with db.session(write=True) as session:
        batch = await retention.delete_alert_batch(
            session, first.organisation_id, now, alert_settings.thresholds, limit=1
        )
    assert (batch.notifications, batch.alert_events) == (1, 1)
    deleted = await retention.apply(db, alert_settings.thresholds, now)
    deleted += batch

    # The finished notifications and the group's go, then every old event but the pending one's.
    assert (deleted.notifications, deleted.alert_events) == (3, len(recorded) + 3)
    assert preview.counts() == deleted.counts()
    async with db.session() as session:
        assert sorted((await session.scalars(select(AlertEvent.id))).all()) == ["aev_edge", "aev_pending"]
        assert sorted((await session.scalars(select(Notification.id))).all()) == ["ntf_edge", "ntf_pending"]


async def test_retention__platform_log_and_organisations_with_old_history__all_trimmed_no_other_visited(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    other_tenant: Tenant,
    alert_settings: Settings,
    clock: FrozenClock,
) -> None:
    """The platform's delivery log (notifications of no organisation) is trimmed like an
    organisation's, pending ones kept; an organisation whose only old history is alert events
    has them deleted, and one whose only old history is a delivered notification has it deleted
    (its recent event stays). A third organisation, with only a recent event, is neither
    previewed nor visited: the old history of the others is not its own."""
    third = await make_tenant(db, "initech", clock.now)
    connections = {}
    for owner in (tenant, other_tenant, third):
        body = {"name": "Warehouse", "type": "postgres", "state": "connected"}
        made = await client.post(owner.connections_url(), json=body, headers=owner.write)
        assert made.status_code == 201, made.text
        connections[owner.id] = made.json()["id"]
    now = datetime(2026, 9, 1, tzinfo=UTC)
    cutoff = now - alert_settings.thresholds.run_retention
    old, recent = cutoff - DAY, cutoff + DAY
    async with db.session(write=True) as session:
        session.add(
            AlertChannel(
                id="ach_platform", organisation_id=None, name="platform", kind="webhook",
                url="https://example.com/hook", signing_secret="whsec_x", enabled=True, created_at=old,
            )
        )  # fmt: skip
        await session.flush()
        session.add(
            AlertChannel(
                id="ach_tenant", organisation_id=tenant.id, name="own", kind="webhook",
                url="https://example.com/own", signing_secret="whsec_y", enabled=True, created_at=old,
            )
        )  # fmt: skip
        await session.flush()
        session.add(
            Notification(
                id="ntf_tenant_old", organisation_id=tenant.id, channel_id="ach_tenant", event_id=None,
                rule_id=None, connection_id=None, type="alert_group", payload={}, state="delivered",
                attempts=1, hold_until=None, due_at=old, created_at=old, next_attempt_at=None,
                delivered_at=old,
            )
        )  # fmt: skip
        for name, created_at, state in (
            ("old", old, "delivered"),
            ("stuck", old, "pending"),
            ("new", recent, "delivered"),
        ):
            session.add(
                Notification(
                    id=f"ntf_platform_{name}", organisation_id=None, channel_id="ach_platform", event_id=None,
                    rule_id=None, connection_id=None, type="alert_group", payload={}, state=state, attempts=1,
                    hold_until=None, due_at=created_at, created_at=created_at,
                    next_attempt_at=created_at if state == "pending" else None,
                    delivered_at=created_at if state == "delivered" else None,
                )
            )  # fmt: skip
        for organisation_id, name, at in (
            (other_tenant.id, "old", old),
            (tenant.id, "recent", recent),
            (third.id, "third_recent", recent),
        ):
            session.add(
                AlertEvent(
                    id=f"aev_{name}", organisation_id=organisation_id,
                    connection_id=connections[organisation_id], type="status_changed", key=f"k-{name}",
                    at=at, data={}, created_at=at,
                )
            )  # fmt: skip
    async with db.session() as session:
        preview = await retention.preview(session, now, alert_settings.thresholds)
    deleted = await retention.apply(db, alert_settings.thresholds, now)
    assert (deleted.notifications, deleted.alert_events) == (2, 1)
    assert preview.counts() == deleted.counts()
    # The organisations `pipepulse retention` reports, previewed and visited alike.
    assert preview.organisations == deleted.organisations == {tenant.id, other_tenant.id}
    async with db.session() as session:
        assert sorted((await session.scalars(select(Notification.id))).all()) == [
            "ntf_platform_new",
            "ntf_platform_stuck",
        ]
        assert sorted((await session.scalars(select(AlertEvent.id))).all()) == [
            "aev_recent",
            "aev_third_recent",
        ]
