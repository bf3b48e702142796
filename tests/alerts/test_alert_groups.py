"""SPEC §7.4 end to end: 400 connections of one organisation go into error with one shared error
template; a real receiver on loopback gets one firing and one resolved notification per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipepulse.scheduler.runner import alert_pass
from tests.alerts.test_channel_status import statements
from tests.alerts.test_dashboard_alerts import sign_in
from tests.alerts.world import AlertWorld, log_url
from tests.conftest import Tenant, iso

T0 = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
N = 400


@pytest.mark.timeout(600)  # 400 connections through the API, on a busy machine
async def test_groups__400_connections_one_cause__one_firing_one_resolved_per_rule(
    world: AlertWorld,
) -> None:
    world.clock.now = T0 - timedelta(hours=2)
    connections = await world.connections(N)
    world.clock.now = T0 - timedelta(hours=1)
    await world.runs(connections, T0 - timedelta(hours=1), None)
    channel = await world.channel()
    by_fingerprint = await world.rule(
        channel["id"],
        ["status:error", "recovered"],
        group_by=["fingerprint"],
        group_wait_seconds=30,
    )
    everything = await world.rule(channel["id"], ["status:error", "recovered"], group_by=[])
    await world.tick(T0, replicas=1)  # first evaluation: all active
    assert world.receiver.received() == []

    # Within one minute, every connection fails three times with the same cause.
    for k in range(3):
        world.clock.now = T0 + timedelta(seconds=10 + 10 * k)
        await world.runs(
            connections,
            T0 + timedelta(seconds=10 + 10 * k),
            lambda i: f"connection refused to db-{i}.internal:5432 after {30000 + i} ms",
        )
    for seconds in (45, 60, 90, 120):  # several ticks, two replicas each
        await world.tick(T0 + timedelta(seconds=seconds))
    firing = world.receiver.received("alert_group")
    assert sorted(d.json["group"]["rule_id"] for d in firing) == sorted(
        [by_fingerprint["id"], everything["id"]]
    )
    for d in firing:
        body = d.json
        assert body["status"] == "firing"
        assert body["counts"] == {"firing": N, "resolved": 0}
        assert len(body["alerts"]) == 100
        assert body["truncated_alerts"] == N - 100
        assert body["alerts"][0]["labels"]["condition"] == "error"
        assert body["alerts"][0]["from"] == "active"
        assert body["alerts"][0]["silenced_by"] == []
    keyed = next(d.json for d in firing if d.json["group"]["rule_id"] == by_fingerprint["id"])
    assert set(keyed["group"]["key"]) == {"fingerprint"}
    assert keyed["group"]["key"]["fingerprint"] == keyed["alerts"][0]["labels"]["fingerprint"] != ""

    # Recovery: every connection delivers again; after group_interval, one resolved each.
    world.clock.now = T0 + timedelta(minutes=10)
    await world.runs(connections, T0 + timedelta(minutes=10), None)
    for minutes in (11, 20, 30):
        await world.tick(T0 + timedelta(minutes=minutes))
    groups = world.receiver.received("alert_group")
    resolved = [d.json for d in groups if d.json["status"] == "resolved"]
    assert len(groups) == 4
    assert sorted(b["group"]["rule_id"] for b in resolved) == sorted([by_fingerprint["id"], everything["id"]])
    assert all(b["counts"] == {"firing": 0, "resolved": N} for b in resolved)
    assert len({d.json["id"] for d in groups}) == 4

    log = (await world.client.get(log_url(world.tenant), headers=world.tenant.read)).json()
    assert sum(1 for item in log["items"] if item["type"] == "alert_group") == 4
    listed = await world.client.get(
        f"/api/v1/organisations/{world.tenant.id}/alert-groups/", headers=world.tenant.read
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert {g["state"] for g in items} == {"closed"}
    assert [(len(g["alerts"]), g["counts"]) for g in items] == [(100, {"firing": 0, "resolved": N})] * 2
    assert items[0]["alerts"][0]["from"] == "active"
    assert items[0]["alerts"][0]["ended_at"] is not None


async def test_groups__min_duration__short_error_never_told_lasting_one_joins_after_the_hold(
    world: AlertWorld,
) -> None:
    world.clock.now = T0 - timedelta(hours=2)
    brief, lasting = await world.connections(2)
    world.clock.now = T0 - timedelta(hours=1)
    await world.runs([brief, lasting], T0 - timedelta(hours=1), None)
    channel = await world.channel()
    await world.rule(
        channel["id"],
        ["status:error", "recovered"],
        group_by=[],
        group_wait_seconds=0,
        min_duration_seconds=600,
    )
    await world.tick(T0, replicas=1)

    for k in range(3):  # both in error from T0 + 30 s
        at = T0 + timedelta(seconds=10 + 10 * k)
        world.clock.now = at
        await world.runs([brief, lasting], at, lambda _: "refused")
    await world.tick(T0 + timedelta(minutes=1), replicas=1)
    world.clock.now = T0 + timedelta(minutes=3)
    await world.runs([brief], world.clock.now, None)  # over in 2.5 minutes
    await world.tick(T0 + timedelta(minutes=4), replicas=1)
    await world.tick(T0 + timedelta(minutes=10), replicas=1)
    assert world.receiver.received("alert_group") == []  # held back: 9.5 minutes of 10

    await world.tick(T0 + timedelta(minutes=10, seconds=31), replicas=1)
    [firing] = [d.json for d in world.receiver.received("alert_group")]
    assert firing["status"] == "firing"
    assert [a["connection"]["id"] for a in firing["alerts"]] == [lasting]
    assert firing["counts"] == {"firing": 1, "resolved": 0}
    assert firing["alerts"][0]["started_at"] == iso(T0 + timedelta(seconds=30)).replace(".000000", "")

    world.clock.now = T0 + timedelta(minutes=12)
    await world.runs([lasting], world.clock.now, None)
    await world.tick(T0 + timedelta(minutes=13), replicas=1)
    await world.tick(T0 + timedelta(minutes=20), replicas=1)
    resolved = [d.json for d in world.receiver.received("alert_group")][1:]
    assert [(r["status"], r["counts"]) for r in resolved] == [("resolved", {"firing": 0, "resolved": 1})]
    assert [a["connection"]["id"] for a in resolved[0]["alerts"]] == [lasting]


async def test_groups__late_then_fresh__one_firing_and_one_resolved_group_notification(
    world: AlertWorld,
) -> None:
    world.clock.now = T0 - timedelta(hours=2)
    [connection] = await world.connections(1)
    world.clock.now = T0 - timedelta(minutes=30)
    await world.runs([connection], world.clock.now, None)
    channel = await world.channel()
    rule = await world.rule(channel["id"], ["late", "fresh"], group_by=["connection"], group_wait_seconds=0)

    await world.tick(T0)
    # Last delivery 11:30, SLA 2 x 1 h + 15 min: late from 13:45.
    await world.tick(T0 + timedelta(hours=1, minutes=50))
    [firing] = [d.json for d in world.receiver.received("alert_group")]
    assert firing["status"] == "firing"
    assert firing["group"]["rule_id"] == rule["id"]
    assert firing["group"]["key"] == {"connection": connection}
    [alert] = firing["alerts"]
    assert alert["labels"]["condition"] == "late"
    assert alert["started_at"] == "2026-04-20T13:45:00Z"
    assert alert["from"] is None
    assert alert["reason"]["code"] == "late"

    world.clock.now = T0 + timedelta(hours=2)
    await world.runs([connection], world.clock.now, None)
    await world.tick(T0 + timedelta(hours=2, minutes=1))
    await world.tick(T0 + timedelta(hours=2, minutes=10))
    resolved = [d.json for d in world.receiver.received("alert_group")][1:]
    assert [(r["status"], r["counts"]) for r in resolved] == [("resolved", {"firing": 0, "resolved": 1})]
    assert resolved[0]["alerts"][0]["ended_at"] == "2026-04-20T14:00:00Z"


async def test_organisation_page__open_groups__own_shown_above_the_cards_others_never(
    world: AlertWorld,
    other_tenant: Tenant,
) -> None:
    made = {}
    for who in (world.tenant, other_tenant):
        world.clock.now = T0 - timedelta(hours=1)
        acting = world.as_tenant(who)
        [connection] = await acting.connections(1)
        channel = await acting.channel()
        await acting.rule(channel["id"], ["status:error"], group_by=[], group_wait_seconds=0)
        for k in range(3):
            world.clock.now = T0 - timedelta(minutes=30 - k)
            await acting.runs([connection], world.clock.now, lambda _: "refused")
        made[who.id] = connection
    await world.tick(T0, replicas=1)
    groups = {
        d.json["organisation"]["id"]: d.json["group"]["id"] for d in world.receiver.received("alert_group")
    }
    tenant, client = world.tenant, world.client
    assert set(groups) == {tenant.id, other_tenant.id}

    await sign_in(client, tenant.reader)
    page = (await client.get(f"/orgs/{tenant.id}/")).text
    assert f'data-group="{groups[tenant.id]}"' in page
    assert groups[other_tenant.id] not in page
    assert page.index('id="open-groups"') < page.index('class="cards"')
    partial = (await client.get(f"/orgs/{tenant.id}/", params={"partial": "true"})).text
    assert f'data-group="{groups[tenant.id]}"' in partial
    assert (await client.get(f"/orgs/{other_tenant.id}/")).status_code == 404


async def test_groups__recovered_asked_or_not__resolved_told_only_to_rules_that_ask(
    world: AlertWorld,
) -> None:
    """SPEC §7.4: `recovered` asks for the resolved notifications of the rule's status alerts,
    whatever the new status; a rule without it closes its group silently."""
    world.clock.now = T0 - timedelta(hours=2)
    [connection] = await world.connections(1)
    for minutes in (30, 20, 10):  # three failures: error from the third
        world.clock.now = T0 - timedelta(minutes=minutes)
        await world.runs([connection], world.clock.now, lambda _: "connection refused")
    rules = {}
    for name, events in (
        ("asks", ["status:error", "recovered"]),
        ("silent", ["status:error"]),
        ("degraded", ["status:error", "status:degraded"]),
    ):
        channel = await world.channel(name=name)
        rules[name] = (await world.rule(channel["id"], events, group_wait_seconds=0))["id"]

    await world.tick(T0)
    # A good run: error → degraded (failures still inside 24 h), which resolves the error alert.
    world.clock.now = T0 + timedelta(minutes=5)
    await world.runs([connection], world.clock.now, None)
    await world.tick(T0 + timedelta(minutes=6))
    await world.tick(T0 + timedelta(minutes=30))

    told: dict[str, list[tuple[str, list[tuple[str, str | None]]]]] = {name: [] for name in rules}
    by_rule = {rule_id: name for name, rule_id in rules.items()}
    for note in (d.json for d in world.receiver.received("alert_group")):
        alerts = [(a["labels"]["condition"], a["ended_at"]) for a in note["alerts"]]
        told[by_rule[note["group"]["rule_id"]]].append((note["status"], alerts))
    ended = "2026-04-20T12:05:00Z"
    assert told == {
        "asks": [("firing", [("error", None)]), ("resolved", [("error", ended)])],
        "silent": [("firing", [("error", None)])],
        # The degraded alert is news; the error alert's end is not told.
        "degraded": [("firing", [("error", None)]), ("firing", [("degraded", None)])],
    }
    groups = await world.client.get(
        f"/api/v1/organisations/{world.tenant.id}/alert-groups/",
        params={"size": 50},
        headers=world.tenant.read,
    )
    assert groups.status_code == 200, groups.text
    states = {by_rule[g["rule_id"]]: g["state"] for g in groups.json()["items"]}
    assert states == {"asks": "closed", "silent": "closed", "degraded": "open"}


async def test_groups__outage_storm__open_groups_read_once_per_pass_however_many_turn(
    world: AlertWorld,
) -> None:
    """A rule grouping by connection, and 3 then 12 connections turning to error in one pass:
    the pass reads the rule's open groups the same number of times (it used to read them once
    per alert, so an outage of n connections cost n² group rows), and every connection still
    gets its own group, told once."""
    world.clock.now = T0 - timedelta(hours=3)
    small, large = await world.connections(3), await world.connections(12)
    channel = await world.channel()
    await world.rule(channel["id"], ["status:error"], group_by=["connection"])
    reads = []
    for minutes, connections in ((0, small), (60, large)):
        for back in (30, 20, 10):
            world.clock.now = T0 + timedelta(minutes=minutes - back)
            await world.runs(connections, world.clock.now, lambda _: "connection refused")
        world.clock.now = T0 + timedelta(minutes=minutes)
        with statements(world.db) as seen:
            await alert_pass(world.db, world.settings, world.clock.now)
        reads.append(
            sum(1 for s in seen if s.lstrip().upper().startswith("SELECT") and "FROM alert_groups" in s)
        )
    assert reads[0] == reads[1]
    notes = [d.json for d in world.receiver.received("alert_group")]
    named = [a["connection"]["id"] for n in notes for a in n["alerts"]]
    assert sorted(named) == sorted(small + large)
    assert len({n["group"]["id"] for n in notes}) == 15
