"""SPEC §7.4 silences, maintenance windows (across a DST change) and acknowledgement, end to end
with a real receiver on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.alerts.world import AlertWorld, groups_url
from tests.conftest import FrozenClock, Tenant, iso


async def test_silence__hides_then_expires__group_notified_once_after(
    world: AlertWorld,
) -> None:
    t0 = datetime(2026, 4, 20, 12, tzinfo=UTC)
    world.clock.now = t0 - timedelta(hours=2)
    cid = await world.connection()
    await world.push(cid, t0 - timedelta(hours=1), None)
    channel = await world.channel()
    await world.rule(
        channel["id"],
        ["status:error", "recovered"],
        group_by=["connection"],
        group_wait_seconds=0,
        repeat_interval_seconds=3600,
    )
    await world.tick(t0)
    silence = await world.client.post(
        f"/api/v1/organisations/{world.tenant.id}/silences/",
        json={
            "matchers": {"connection": cid, "condition": "=~error|degraded"},
            "starts_at": iso(t0 - timedelta(hours=1)),
            "ends_at": iso(t0 + timedelta(minutes=30)),
            "comment": "known: warehouse upgrade",
        },
        headers=world.tenant.write,
    )
    assert silence.status_code == 201, silence.text
    assert silence.json()["state"] == "active"
    assert silence.json()["created_by"] == "w"

    await world.fail(cid, t0 + timedelta(minutes=1))
    await world.tick(t0 + timedelta(minutes=2))
    await world.tick(t0 + timedelta(minutes=20))
    assert world.receiver.received("alert_group") == []
    [group] = await world.groups()
    assert group["state"] == "open"
    assert group["alerts"][0]["silenced_by"] == [silence.json()["id"]]

    # The silence ends while the alert still fires: it joins its group as if it had just fired.
    await world.tick(t0 + timedelta(minutes=31))
    [firing] = world.receiver.received("alert_group")
    assert firing.json["status"] == "firing"
    assert firing.json["alerts"][0]["silenced_by"] == []

    # Acknowledged: no repeat after repeat_interval while it fires unchanged.
    ack = await world.client.post(
        groups_url(world.tenant) + f"{group['id']}/acknowledge",
        json={"comment": "on it"},
        headers=world.tenant.write,
    )
    assert ack.status_code == 200, ack.text
    await world.tick(t0 + timedelta(hours=3))
    assert len(world.receiver.received("alert_group")) == 1
    [shown] = await world.groups()
    assert (shown["acknowledged_by"], shown["acknowledge_comment"]) == ("w", "on it")

    listed = await world.client.get(
        f"/api/v1/organisations/{world.tenant.id}/silences/",
        params={"state": "expired"},
        headers=world.tenant.read,
    )
    assert [s["id"] for s in listed.json()] == [silence.json()["id"]]


async def test_silence__bad_matcher_and_delete__422_and_expired(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    url = f"/api/v1/organisations/{tenant.id}/silences/"
    body = {
        "matchers": {"connection": "=~("},
        "starts_at": iso(clock.now),
        "ends_at": iso(clock.now + timedelta(hours=1)),
    }
    bad = await client.post(url, json=body, headers=tenant.write)
    assert bad.status_code == 422
    assert "regular expression" in bad.text
    made = await client.post(url, json={**body, "matchers": {"fingerprint": "abc"}}, headers=tenant.write)
    assert made.status_code == 201
    assert (await client.delete(url + made.json()["id"] + "/", headers=tenant.write)).status_code == 204
    [gone] = (await client.get(url, headers=tenant.read)).json()
    assert gone["state"] == "expired"


async def test_maintenance_window__across_spring_forward__silences_only_inside(
    world: AlertWorld,
) -> None:
    # Sunday 2026-03-29, Berlin skips 02:00-03:00; a window at 02:30 for 60 minutes runs
    # 03:30-04:30 CEST, i.e. 01:30-02:30 UTC.
    sunday = datetime(2026, 3, 29, tzinfo=UTC)
    world.clock.now = sunday - timedelta(hours=3)
    cid = await world.connection()
    await world.push(cid, sunday - timedelta(hours=2), None)
    channel = await world.channel()
    await world.rule(channel["id"], ["status:error"], group_by=["connection"], group_wait_seconds=0)
    window = await world.client.post(
        f"/api/v1/organisations/{world.tenant.id}/maintenance-windows/",
        json={
            "matchers": {"organisation": world.tenant.slug},
            "time_zone": "Europe/Berlin",
            "weekdays": [6],
            "start": "02:30",
            "duration_minutes": 60,
            "comment": "weekly warehouse maintenance",
        },
        headers=world.tenant.write,
    )
    assert window.status_code == 201, window.text
    assert window.json()["next_start"] == "2026-03-29T01:30:00Z"
    await world.tick(sunday)

    await world.fail(cid, sunday + timedelta(hours=1, minutes=35))
    await world.tick(sunday + timedelta(hours=1, minutes=40))  # 03:40 CEST
    assert world.receiver.received("alert_group") == []
    listed = (
        await world.client.get(
            f"/api/v1/organisations/{world.tenant.id}/maintenance-windows/", headers=world.tenant.read
        )
    ).json()
    assert listed[0]["active"] is True
    await world.tick(sunday + timedelta(hours=2, minutes=31))  # 04:31 CEST
    [notified] = world.receiver.received("alert_group")
    assert notified.json["counts"] == {"firing": 1, "resolved": 0}

    bad = await world.client.post(
        f"/api/v1/organisations/{world.tenant.id}/maintenance-windows/",
        json={
            "matchers": {"organisation": "x"},
            "time_zone": "Mars/Base",
            "weekdays": [1],
            "start": "10:00",
            "duration_minutes": 5,
        },
        headers=world.tenant.write,
    )
    assert bad.status_code == 422
    assert "IANA" in bad.text
