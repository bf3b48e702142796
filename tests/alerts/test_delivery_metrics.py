"""SPEC §7.5 delivery figures: ``pipepulse_alert_detect_to_notify_seconds`` (a change's instant to
the receiver's 2xx, on the scheduler's /metrics) and ``pipepulse_notifications_oldest_due_seconds``
(on /metrics: how long a due notification has waited, growing while delivery is stalled)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from pipepulse.alerts import prometheus as alerts_prometheus
from pipepulse.config import Settings
from pipepulse.db.models import (
    ConnectionEvaluation,
    Notification,
    NotificationTally,
    SchedulerHeartbeat,
    WarehouseConnection,
)
from pipepulse.db.session import Database
from pipepulse.delivery import latency
from pipepulse.scheduler import runner
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.test_evaluation import make_connection
from tests.alerts.test_outbox import setup_error_notification
from tests.conftest import FrozenClock, Tenant

T0 = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_change_at__per_event_body__its_data_at() -> None:
    body = {"type": "connection.status_changed", "data": {"at": iso(T0)}}
    assert latency.change_at(body) == T0
    assert latency.detect_to_notify_seconds(body, T0 + timedelta(seconds=7)) == 7.0


def test_change_at__test_heartbeat_or_no_instant__untimed() -> None:
    assert latency.change_at({"type": "test", "data": {"at": iso(T0)}}) is None
    assert latency.change_at({"type": "heartbeat", "data": {}}) is None
    assert latency.change_at({"type": "connection.late", "data": {"at": "not a time"}}) is None


@given(
    starts=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=20),
    ends=st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)), min_size=1, max_size=20),
)
def test_change_at__group_body__the_newest_start_or_end_among_its_alerts(
    starts: list[int], ends: list[int | None]
) -> None:
    alerts: list[dict[str, Any]] = []
    expected = []
    for start, end in zip(starts, ends, strict=False):
        begun = T0 + timedelta(seconds=start)
        ended = None if end is None else begun + timedelta(seconds=end)
        alerts.append({"started_at": iso(begun), "ended_at": iso(ended) if ended else None})
        expected.append(ended or begun)
    body = {"type": "alert_group", "status": "firing", "alerts": alerts}
    assert latency.change_at(body) == max(expected)
    assert latency.detect_to_notify_seconds(body, max(expected) - timedelta(seconds=1)) == 0.0


async def test_detect_to_notify__error_delivered__observed_from_the_change_to_the_2xx(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    _channel, _connection, broken_at = await setup_error_notification(
        client, tenant, service_key, clock, receiver
    )
    metrics = runner.SchedulerMetrics()
    receiver.statuses = [500]  # the first attempt fails: the figure counts until the 2xx
    await alert_pass(db, alert_settings, broken_at + timedelta(seconds=2), metrics=metrics)
    value = metrics.registry.get_sample_value
    assert (value("pipepulse_alert_detect_to_notify_seconds_count") or 0) == 0
    await alert_pass(db, alert_settings, broken_at + timedelta(seconds=62), metrics=metrics)  # the retry
    assert value("pipepulse_alert_detect_to_notify_seconds_count") == 1
    total = value("pipepulse_alert_detect_to_notify_seconds_sum")
    assert total is not None
    assert 62 <= total < 67  # the retry's pass, plus the send itself
    assert value("pipepulse_alert_detect_to_notify_seconds_bucket", {"le": "60.0"}) == 0
    assert value("pipepulse_alert_detect_to_notify_seconds_bucket", {"le": "120.0"}) == 1


async def oldest_due(db: Database, now: datetime) -> float:
    async with db.session() as session:
        text = (await alerts_prometheus.exposition(session, now)).decode()
    found = re.search(r"^pipepulse_notifications_oldest_due_seconds (\S+)$", text, re.M)
    assert found is not None, text
    return float(found.group(1))


async def test_oldest_due__delivery_stalls__grows_until_a_pass_delivers(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    assert await oldest_due(db, clock.now) == 0.0
    await setup_error_notification(client, tenant, service_key, clock, receiver)
    receiver.statuses = [503]
    first = clock.now
    await alert_pass(db, alert_settings, first)  # fails; the next attempt is due a minute on
    assert await oldest_due(db, first + timedelta(seconds=30)) == 0.0  # waiting for its backoff
    # No scheduler delivers: the retry's time passes and the wait grows.
    assert await oldest_due(db, first + timedelta(minutes=1)) == 0.0
    assert await oldest_due(db, first + timedelta(minutes=11)) == 600.0
    await alert_pass(db, alert_settings, first + timedelta(minutes=11))  # delivered
    assert await oldest_due(db, first + timedelta(minutes=12)) == 0.0


async def test_exposition__notifications_lateness_and_heartbeats__as_a_scraper_reads_them(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    channel, broken, _ = await setup_error_notification(client, tenant, service_key, clock, receiver)
    theirs = await make_connection(client, other_tenant, name="Orders")
    paused = await make_connection(client, tenant, name="Paused")
    await alert_pass(db, alert_settings, clock.now)
    async with db.session(write=True) as session:
        # Deleted notifications' tallies add to the rows there are; a paused connection's
        # evaluation is not served; the newest heartbeat of two replicas.
        session.add_all(
            [
                NotificationTally(type="alert_group", state="delivered", deleted=4),
                NotificationTally(type="test", state="failed", deleted=2),
                # Beside the delivered alert_group one: another type in its state, another
                # state of its type (each counted apart).
                *(
                    Notification(
                        id=f"ntf_{type_}_{state}",
                        organisation_id=tenant.id,
                        channel_id=channel["id"],
                        type=type_,
                        payload={},
                        state=state,
                        attempts=1,
                        due_at=clock.now,
                        created_at=clock.now,
                    )
                    for type_, state in (("test", "delivered"), ("alert_group", "failed"))
                ),
                SchedulerHeartbeat(scheduler_id="a", last_tick_at=clock.now - timedelta(seconds=40)),
                SchedulerHeartbeat(scheduler_id="b", last_tick_at=clock.now - timedelta(seconds=10)),
            ]
        )
        await session.execute(
            update(ConnectionEvaluation).where(ConnectionEvaluation.connection_id == theirs).values(late=True)
        )
        await session.execute(
            update(WarehouseConnection).where(WarehouseConnection.id == paused).values(state="paused")
        )
    async with db.session() as session:
        evaluated = await session.scalar(
            select(func.count())
            .select_from(ConnectionEvaluation)
            .where(ConnectionEvaluation.connection_id == paused)
        )
        assert evaluated == 1  # evaluated before it was paused: its row is there, not served
        text = (await alerts_prometheus.exposition(session, clock.now)).decode()

    def scraped(text: str) -> set[tuple[str, float | None]]:
        """Each line as a scraper reads it: comments whole, samples as series and value."""
        out: set[tuple[str, float | None]] = set()
        for line in text.splitlines():
            if line.startswith("#"):
                out.add((line, None))
            else:
                series, number = line.rsplit(" ", 1)
                out.add((series, float(number)))
        return out

    notifications = (
        "Alert notifications by event type and delivery state (pending ones are still being tried)."
    )
    late = "1 when the connection was late (past its freshness SLA) at the last evaluation."
    oldest = (
        "How long the notification that has waited longest past its attempt time has waited"
        " (0 when none is due): grows without bound when no scheduler delivers."
    )
    assert scraped(text) == {
        (f"# HELP pipepulse_notifications_total {notifications}", None),
        ("# TYPE pipepulse_notifications_total counter", None),
        ('pipepulse_notifications_total{state="delivered",type="alert_group"}', 5.0),  # 1 there, 4 deleted
        ('pipepulse_notifications_total{state="delivered",type="test"}', 1.0),
        ('pipepulse_notifications_total{state="failed",type="alert_group"}', 1.0),
        ('pipepulse_notifications_total{state="failed",type="test"}', 2.0),  # deleted ones only
        (f"# HELP pipepulse_connection_late {late}", None),
        ("# TYPE pipepulse_connection_late gauge", None),
        (
            f'pipepulse_connection_late{{connection="Orders",connection_id="{theirs}",organisation_id="{other_tenant.id}"}}',
            1.0,
        ),
        (
            f'pipepulse_connection_late{{connection="Finance replica",connection_id="{broken}",'
            f'organisation_id="{tenant.id}"}}',
            0.0,
        ),
        (f"# HELP pipepulse_notifications_oldest_due_seconds {oldest}", None),
        ("# TYPE pipepulse_notifications_oldest_due_seconds gauge", None),
        ("pipepulse_notifications_oldest_due_seconds", 0.0),
        (
            "# HELP pipepulse_scheduler_last_tick_timestamp_seconds"
            " When the most recent scheduler tick (any replica) finished.",
            None,
        ),
        ("# TYPE pipepulse_scheduler_last_tick_timestamp_seconds gauge", None),
        ("pipepulse_scheduler_last_tick_timestamp_seconds", (clock.now - timedelta(seconds=10)).timestamp()),
    }
