"""Edge tables of SPEC §7.4 (the style of tests/edges.py): silences, maintenance windows and
alert-group timing, each instant exactly on an edge, one second before and one after, through
the API and the alert pass on the test database (so on SQLite and on PostgreSQL).

- a silence holds ``[starts_at, ends_at)``;
- a maintenance window's occurrence holds ``[start, start + duration)``;
- a new group is notified once ``group_wait`` has passed since its first alert fired, a group
  whose alerts changed again once ``group_interval`` has passed since its last notification, and
  a group still firing unchanged again once ``repeat_interval`` has passed since its last
  notification (docs/alerts.md: "at least", so exactly on the edge is due).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.alerts.world import AlertWorld
from tests.conftest import iso
from tests.edges import SECOND, Edge, around, table

# A Monday, 14:00 in Berlin (CEST): the maintenance window below starts exactly here.
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


async def firing_group(world: AlertWorld, **rule: Any) -> str:
    """A connection failing since ``NOW - 30 min``, its alert in an open group; the connection's id."""
    world.clock.now = NOW - timedelta(hours=3)
    cid = await world.connection()
    await world.push(cid, NOW - timedelta(hours=2), None)
    channel = await world.channel()
    # `recovered`: a change that ends the error is told as the group's resolution.
    events = ["status:error", "recovered"]
    await world.rule(channel["id"], events, group_by=["connection"], **rule)
    await world.tick(NOW - timedelta(hours=1))
    await world.fail(cid, NOW - 31 * MINUTE)
    return cid


def shown(at: datetime) -> str:
    """An instant as the API shows it (whole seconds, Z)."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


async def alert_silenced_by(world: AlertWorld) -> list[str]:
    [group] = await world.groups()
    [alert] = group["alerts"]
    return list(alert["silenced_by"])


SILENCE_FROM, SILENCE_TO = timedelta(hours=1), timedelta(hours=3)
SILENCE = [
    *around("starts_at", SILENCE_FROM, before="pending", on="active", after="active"),
    *around("ends_at", SILENCE_TO, before="active", on="expired", after="expired"),
]


@table(SILENCE)
async def test_edges__silence__holds_from_starts_at_inclusive_to_ends_at_exclusive(
    row: Edge,
    world: AlertWorld,
) -> None:
    cid = await firing_group(world, group_wait_seconds=3600)
    await world.tick(NOW)
    url = f"/api/v1/organisations/{world.tenant.id}/silences/"
    created = await world.client.post(
        url,
        json={
            "matchers": {"connection": cid},
            "starts_at": iso(NOW + SILENCE_FROM),
            "ends_at": iso(NOW + SILENCE_TO),
        },
        headers=world.tenant.write,
    )
    assert created.status_code == 201, created.text
    silence_id = created.json()["id"]

    world.clock.now = NOW + row.instant
    [listed] = (await world.client.get(url, headers=world.tenant.read)).json()
    assert listed["state"] == row.expected
    by_state = (await world.client.get(url, params={"state": row.expected}, headers=world.tenant.read)).json()
    assert [s["id"] for s in by_state] == [silence_id]
    assert await alert_silenced_by(world) == ([silence_id] if row.expected == "active" else [])


WINDOW_LENGTH = timedelta(minutes=30)
WINDOW = [
    *around("start", timedelta(0), before=False, on=True, after=True),
    *around("end", WINDOW_LENGTH, before=True, on=False, after=False),
]


@table(WINDOW)
async def test_edges__maintenance_window__holds_from_its_start_inclusive_to_its_end_exclusive(
    row: Edge,
    world: AlertWorld,
) -> None:
    await firing_group(world, group_wait_seconds=3600)
    await world.tick(NOW - 10 * MINUTE)
    url = f"/api/v1/organisations/{world.tenant.id}/maintenance-windows/"
    created = await world.client.post(
        url,
        json={
            "matchers": {"organisation": world.tenant.slug},
            "time_zone": "Europe/Berlin",
            "weekdays": [0],
            "start": "14:00",
            "duration_minutes": 30,
        },
        headers=world.tenant.write,
    )
    assert created.status_code == 201, created.text
    window_id = created.json()["id"]

    world.clock.now = NOW + row.instant
    [listed] = (await world.client.get(url, headers=world.tenant.read)).json()
    assert listed["active"] is row.expected
    # Inside, the occurrence holding now; outside, the next one (a week on, once this one ended).
    next_start = NOW if row.instant < WINDOW_LENGTH else NOW + timedelta(days=7)
    assert (listed["next_start"], listed["next_end"]) == (
        shown(next_start),
        shown(next_start + WINDOW_LENGTH),
    )
    assert await alert_silenced_by(world) == ([window_id] if row.expected else [])


GROUP_WAIT = timedelta(seconds=600)
WAIT = around("group_wait", GROUP_WAIT, before=0, on=1, after=1)


@table(WAIT)
async def test_edges__group_wait__first_notification_once_it_has_passed_since_the_first_alert(
    row: Edge,
    world: AlertWorld,
) -> None:
    await firing_group(
        world,
        group_wait_seconds=int(GROUP_WAIT.total_seconds()),
    )
    await world.tick(NOW - 30 * MINUTE)
    [group] = await world.groups()
    first = datetime.fromisoformat(group["first_fired_at"])
    assert world.receiver.received("alert_group") == []

    await world.tick(first + row.instant)
    assert len(world.receiver.received("alert_group")) == row.expected


GROUP_INTERVAL = timedelta(seconds=600)
CHANGES = around("group_interval", GROUP_INTERVAL, before=1, on=2, after=2)


@table(CHANGES)
async def test_edges__group_interval__changed_group_told_again_once_it_has_passed(
    row: Edge,
    world: AlertWorld,
) -> None:
    cid = await firing_group(
        world,
        group_wait_seconds=0,
        group_interval_seconds=int(GROUP_INTERVAL.total_seconds()),
        repeat_interval_seconds=86_400,
    )
    await world.tick(NOW - 30 * MINUTE)
    [group] = await world.groups()
    last = datetime.fromisoformat(group["last_notified_at"])
    assert len(world.receiver.received("alert_group")) == 1

    # The group changes at the row's instant (a delivery ends the error: its alert resolves),
    # and a pass runs at that same instant.
    await world.push(cid, last + row.instant, None)
    await world.tick(last + row.instant)
    sent = world.receiver.received("alert_group")
    assert len(sent) == row.expected
    assert sent[-1].json["status"] == ("resolved" if row.expected == 2 else "firing")
    # A change held back is told exactly at the edge, not dropped.
    await world.tick(max(last + GROUP_INTERVAL, last + row.instant))
    assert [d.json["status"] for d in world.receiver.received("alert_group")] == ["firing", "resolved"]


REPEAT = timedelta(seconds=3600)
REPEATS = around("repeat_interval", REPEAT, before=1, on=2, after=2)


@table(REPEATS)
async def test_edges__repeat_interval__unchanged_group_told_again_once_it_has_passed(
    row: Edge,
    world: AlertWorld,
) -> None:
    await firing_group(
        world,
        group_wait_seconds=0,
        repeat_interval_seconds=int(REPEAT.total_seconds()),
    )
    await world.tick(NOW - 30 * MINUTE)
    [told] = world.receiver.received("alert_group")
    [group] = await world.groups()
    last = datetime.fromisoformat(group["last_notified_at"])
    assert last == NOW - 30 * MINUTE

    # Ticks up to the edge (each one a second apart near it) send nothing more before it.
    await world.tick(last + REPEAT - 2 * SECOND)
    await world.tick(last + row.instant)
    sent = world.receiver.received("alert_group")
    assert len(sent) == row.expected
    assert all(d.json["status"] == "firing" for d in sent)
    assert sent[0].json["id"] == told.json["id"]
