"""SPEC §7.4 platform scope: a platform token's channels and rules match alerts of every
organisation, grouped across organisations or by organisation, told to platform channels only;
organisation tokens never see them; the platform is bounded and served fairly as a scope of its
own. End to end over HTTP with a real receiver on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from pipepulse import ids
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db.models import AlertRule
from pipepulse.db.session import Database
from pipepulse.retention import service as retention
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.test_dashboard_alerts import sign_in
from tests.alerts.world import AlertWorld, add_channel, channels_url, log_url, rules_url
from tests.conftest import FrozenClock, Tenant, iso

T0 = datetime(2026, 4, 20, 12, tzinfo=UTC)
API = "/api/v1/platform"
DEAD = "http://127.0.0.1:9/hook"


async def platform_headers(db: Database, now: datetime, *scope: str) -> dict[str, str]:
    async with db.session(write=True) as session:
        issued = await auth_service.create_token(
            session, organisation_id=None, scopes=list(scope or scopes.ALL), name="platform on-call", now=now
        )
    return {"Authorization": f"Bearer {issued.token}"}


async def platform_channel(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, name: str = "Platform on-call"
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/alert-channels/", json={"name": name, "kind": "webhook", "url": url}, headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def platform_rule(
    client: httpx.AsyncClient, headers: dict[str, str], channel_id: str, events: list[str], **extra: Any
) -> dict[str, Any]:
    body = {"channel_id": channel_id, "events": events, "group_wait_seconds": 0, **extra}
    response = await client.post(f"{API}/alert-rules/", json=body, headers=headers)
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


async def healthy(world: AlertWorld, n: int = 1) -> list[str]:
    made = [await world.connection() for _ in range(n)]
    for cid in made:
        await world.push(cid, T0 - timedelta(hours=1), None)
    return made


async def test_platform_api__channels_rules_log__platform_token_only_never_under_an_organisation(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    platform = await platform_headers(db, clock.now)
    channel = await platform_channel(client, platform, receiver.url)
    assert channel["organisation_id"] is None
    assert channel["signing_secret"]
    rule = await platform_rule(client, platform, channel["id"], ["status:error"], group_by=["organisation"])
    assert (rule["organisation_id"], rule["group_by"]) == (None, ["organisation"])

    listed = (await client.get(f"{API}/alert-channels/", headers=platform)).json()
    assert [c["id"] for c in listed["items"]] == [channel["id"]]
    assert "signing_secret" not in listed["items"][0]
    got = await client.get(f"{API}/alert-channels/{channel['id']}/", headers=platform)
    assert got.status_code == 200
    assert [r["id"] for r in (await client.get(f"{API}/alert-rules/", headers=platform)).json()["items"]] == [
        rule["id"]
    ]
    assert (await client.get(f"{API}/alert-rules/{rule['id']}/", headers=platform)).json() == rule

    # The test send, logged in the platform's delivery log.
    sent = await client.post(f"{API}/alert-channels/{channel['id']}/test/", headers=platform)
    assert sent.json() == {"delivered": True, "status_code": 204, "error": None}
    [test] = receiver.received("test")
    assert test.json["organisation"] is None
    assert test.json["links"]["dashboard"] == "https://pipepulse.example.com/platform/alerts/"
    log = (await client.get(f"{API}/notifications/", headers=platform)).json()
    assert [(n["type"], n["state"]) for n in log["items"]] == [("test", "delivered")]

    # An organisation's token: refused on every platform route, and shown none of it as its own.
    for method, path, body in [
        ("GET", f"{API}/alert-channels/", None),
        ("GET", f"{API}/alert-channels/{channel['id']}/", None),
        ("POST", f"{API}/alert-channels/", {"name": "x", "kind": "webhook", "url": receiver.url}),
        ("DELETE", f"{API}/alert-channels/{channel['id']}/", None),
        ("POST", f"{API}/alert-channels/{channel['id']}/test/", None),
        ("GET", f"{API}/alert-rules/", None),
        ("GET", f"{API}/alert-rules/{rule['id']}/", None),
        ("POST", f"{API}/alert-rules/", {"channel_id": channel["id"], "events": ["status:error"]}),
        ("DELETE", f"{API}/alert-rules/{rule['id']}/", None),
        ("GET", f"{API}/notifications/", None),
    ]:
        headers = tenant.read if method == "GET" else tenant.write
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
    assert (await client.get(channels_url(tenant), headers=tenant.read)).json()["items"] == []
    assert (await client.get(rules_url(tenant), headers=tenant.read)).json()["items"] == []
    assert (await client.get(log_url(tenant), headers=tenant.read)).json()["items"] == []
    ours = f"/api/v1/organisations/{tenant.id}"
    assert (
        await client.get(f"{ours}/alert-channels/{channel['id']}/", headers=tenant.read)
    ).status_code == 404
    assert (await client.get(f"{ours}/alert-rules/{rule['id']}/", headers=tenant.read)).status_code == 404
    # An organisation's rule cannot send to a platform channel, nor a platform rule to an
    # organisation's channel.
    own = await add_channel(client, tenant, receiver)
    refused = await client.post(
        rules_url(tenant),
        json={"channel_id": channel["id"], "events": ["status:error"]},
        headers=tenant.write,
    )
    assert refused.status_code == 422
    refused = await client.post(
        f"{API}/alert-rules/", json={"channel_id": own["id"], "events": ["status:error"]}, headers=platform
    )
    assert refused.status_code == 422

    # Reading needs read:pipeline_metrics, changing write:alerts, as for an organisation.
    reader = await platform_headers(db, clock.now, scopes.READ_PIPELINE_METRICS)
    assert (await client.get(f"{API}/alert-rules/", headers=reader)).status_code == 200
    no = await client.post(
        f"{API}/alert-rules/", json={"channel_id": channel["id"], "events": ["late"]}, headers=reader
    )
    assert no.status_code == 403
    assert (await client.delete(f"{API}/alert-rules/{rule['id']}/", headers=reader)).status_code == 403

    assert (await client.delete(f"{API}/alert-rules/{rule['id']}/", headers=platform)).status_code == 204
    assert (
        await client.delete(f"{API}/alert-channels/{channel['id']}/", headers=platform)
    ).status_code == 204
    assert (await client.get(f"{API}/alert-channels/", headers=platform)).json()["items"] == []


async def test_platform_rules__identical__409_and_bounds_count_the_platform_as_its_own_scope(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    platform = await platform_headers(db, clock.now)
    channel = await platform_channel(client, platform, receiver.url)
    first = await platform_rule(client, platform, channel["id"], ["status:error"], group_by=[])
    again = await client.post(
        f"{API}/alert-rules/",
        json={
            "channel_id": channel["id"],
            "events": ["status:error"],
            "group_by": [],
            "group_wait_seconds": 0,
        },
        headers=platform,
    )
    assert again.status_code == 409
    assert first["id"] in again.text

    # The organisation's 20 channels leave the platform's 19 more (one made above), and back.
    for i in range(20):
        await add_channel(client, tenant, receiver, name=f"org {i}")
    for i in range(19):
        await platform_channel(client, platform, receiver.url, name=f"platform {i}")
    over = await client.post(
        f"{API}/alert-channels/",
        json={"name": "one more", "kind": "webhook", "url": receiver.url},
        headers=platform,
    )
    assert over.status_code == 422
    assert "the platform already has 20 alert channels" in over.text
    assert "PIPEPULSE_ALERTS_MAX_CHANNELS_PER_ORG" in over.text


async def test_platform_rule__two_organisations_in_error__one_group_across_them_org_channels_unchanged(
    world: AlertWorld,
    other_tenant: Tenant,
) -> None:
    other = world.as_tenant(other_tenant)
    world.clock.now = T0 - timedelta(hours=2)
    platform = await platform_headers(world.db, world.clock.now)
    ours = await healthy(world, 2)
    [theirs] = await healthy(other)
    channel = await platform_channel(world.client, platform, world.receiver.url)
    across = await platform_rule(
        world.client, platform, channel["id"], ["status:error", "recovered"], group_by=["condition"]
    )
    await world.tick(T0)

    for cid in ours:
        await world.fail(cid, T0 + timedelta(minutes=1))
    await other.fail(theirs, T0 + timedelta(minutes=1))
    await world.tick(T0 + timedelta(minutes=2))

    [firing] = world.receiver.received("alert_group")
    body = firing.json
    assert (body["status"], body["scope"], body["organisation"]) == ("firing", "platform", None)
    assert body["group"]["rule_id"] == across["id"]
    assert body["group"]["key"] == {"condition": "error"}
    assert body["counts"] == {"firing": 3, "resolved": 0}
    assert sorted(a["connection"]["id"] for a in body["alerts"]) == sorted([*ours, theirs])
    assert {a["labels"]["organisation"] for a in body["alerts"]} == {world.tenant.slug, other_tenant.slug}
    assert body["links"]["dashboard"] == (
        f"https://pipepulse.example.com/platform/incidents/#{body['group']['id']}"
    )
    links = {a["connection"]["id"]: a["links"]["dashboard"] for a in body["alerts"]}
    assert links[theirs] == f"https://pipepulse.example.com/orgs/{other_tenant.id}/connections/{theirs}/"

    # The platform's delivery log has it; neither organisation's log nor groups do.
    log = (await world.client.get(f"{API}/notifications/", headers=platform)).json()["items"]
    assert [(n["type"], n["group_id"]) for n in log] == [("alert_group", body["group"]["id"])]
    for who in (world.tenant, other_tenant):
        assert (await world.client.get(log_url(who), headers=who.read)).json()["items"] == []
        groups = f"/api/v1/organisations/{who.id}/alert-groups/"
        assert (await world.client.get(groups, headers=who.read)).json()["items"] == []

    # The platform's groups: listed with their alerts, and acknowledged, by platform tokens only.
    [group] = (
        await world.client.get(f"{API}/alert-groups/", params={"state": "open"}, headers=platform)
    ).json()["items"]
    assert (group["id"], group["counts"]) == (body["group"]["id"], {"firing": 3, "resolved": 0})
    assert {a["labels"]["organisation"] for a in group["alerts"]} == {world.tenant.slug, other_tenant.slug}
    assert (await world.client.get(f"{API}/alert-groups/", headers=world.tenant.read)).status_code == 403
    acknowledge = f"{API}/alert-groups/{group['id']}/acknowledge"
    assert (await world.client.post(acknowledge, json={}, headers=world.tenant.write)).status_code == 403
    theirs_path = f"/api/v1/organisations/{world.tenant.id}/alert-groups/{group['id']}/acknowledge"
    assert (await world.client.post(theirs_path, json={}, headers=world.tenant.write)).status_code == 404
    acked = await world.client.post(acknowledge, json={"comment": "fleet-wide, on it"}, headers=platform)
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "platform on-call"
    [listed] = (await world.client.get(f"{API}/alert-groups/", headers=platform)).json()["items"]
    assert listed["acknowledge_comment"] == "fleet-wide, on it"

    # Recovered everywhere: one resolved notification for the whole group.
    for cid in ours:
        await world.push(cid, T0 + timedelta(minutes=5), None)
    await other.push(theirs, T0 + timedelta(minutes=5), None)
    await world.tick(T0 + timedelta(minutes=6))
    await world.tick(T0 + timedelta(minutes=12))
    _, resolved = world.receiver.received("alert_group")
    assert (resolved.json["status"], resolved.json["counts"]) == ("resolved", {"firing": 0, "resolved": 3})


async def test_platform_rule__group_by_organisation__one_group_each_naming_its_organisation(
    world: AlertWorld,
    other_tenant: Tenant,
) -> None:
    other = world.as_tenant(other_tenant)
    world.clock.now = T0 - timedelta(hours=2)
    platform = await platform_headers(world.db, world.clock.now)
    [ours] = await healthy(world)
    [theirs] = await healthy(other)
    channel = await platform_channel(world.client, platform, world.receiver.url)
    await platform_rule(world.client, platform, channel["id"], ["status:error"], group_by=["organisation"])
    # The organisation's own rule still sends to its own channel only.
    own = await world.channel(name="Team")
    await world.rule(own["id"], ["status:error"], group_by=["connection"])
    await world.tick(T0)

    await world.fail(ours, T0 + timedelta(minutes=1))
    await other.fail(theirs, T0 + timedelta(minutes=1))
    await world.tick(T0 + timedelta(minutes=2))

    received = [d.json for d in world.receiver.received("alert_group")]
    platform_bodies = sorted(
        (b for b in received if b.get("scope") == "platform"), key=lambda b: b["group"]["key"]["organisation"]
    )
    team = [b for b in received if b.get("scope") is None]
    expected = sorted([(world.tenant, ours), (other_tenant, theirs)], key=lambda p: p[0].slug)
    assert [(b["group"]["key"], b["organisation"]) for b in platform_bodies] == [
        ({"organisation": t.slug}, {"id": t.id, "slug": t.slug}) for t, _ in expected
    ]
    assert [[a["connection"]["id"] for a in b["alerts"]] for b in platform_bodies] == [
        [c] for _, c in expected
    ]
    [mine] = team
    assert (mine["organisation"], [a["connection"]["id"] for a in mine["alerts"]]) == (
        {"id": world.tenant.id, "slug": world.tenant.slug},
        [ours],
    )
    # The organisation's log lists its own notification only.
    [logged] = (await world.client.get(log_url(world.tenant), headers=world.tenant.read)).json()["items"]
    assert logged["channel_id"] == own["id"]


async def test_platform_rule__organisation_silence_and_platform_silence__both_quiet_the_platform_group(
    world: AlertWorld,
    other_tenant: Tenant,
) -> None:
    other = world.as_tenant(other_tenant)
    world.clock.now = T0 - timedelta(hours=2)
    platform = await platform_headers(world.db, world.clock.now)
    [ours] = await healthy(world)
    [theirs] = await healthy(other)
    channel = await platform_channel(world.client, platform, world.receiver.url)
    await platform_rule(world.client, platform, channel["id"], ["status:error"], group_by=[])
    await world.tick(T0)
    window = {"starts_at": iso(T0), "ends_at": iso(T0 + timedelta(minutes=30)), "comment": "planned"}
    # The tenant silences its own maintenance; the platform silences the other organisation.
    org_silence = await world.client.post(
        f"/api/v1/organisations/{world.tenant.id}/silences/",
        json={"matchers": {"connection": ours}, **window},
        headers=world.tenant.write,
    )
    assert org_silence.status_code == 201
    platform_silence = await world.client.post(
        f"{API}/silences/", json={"matchers": {"organisation": other_tenant.slug}, **window}, headers=platform
    )
    assert platform_silence.status_code == 201

    await world.fail(ours, T0 + timedelta(minutes=1))
    await other.fail(theirs, T0 + timedelta(minutes=1))
    await world.tick(T0 + timedelta(minutes=2))
    assert world.receiver.received("alert_group") == []

    # Both silences end while both still fail: the group is told once, with both alerts.
    await world.tick(T0 + timedelta(minutes=31))
    [told] = world.receiver.received("alert_group")
    assert sorted(a["connection"]["id"] for a in told.json["alerts"]) == sorted([ours, theirs])
    assert all(a["silenced_by"] == [] for a in told.json["alerts"])


@pytest.mark.timeout(300)
async def test_fairness__platform_and_organisation_floods__neither_delays_the_other(
    world: AlertWorld,
    other_tenant: Tenant,
) -> None:
    """The platform is a fairness key of its own: its flood to a dead channel costs the platform,
    an organisation's flood costs that organisation, and each live channel is served in the pass."""
    other = world.as_tenant(other_tenant)
    world.clock.now = T0 - timedelta(hours=2)
    platform = await platform_headers(world.db, world.clock.now)
    [flooding] = await healthy(world)
    [quiet] = await healthy(other)
    dead_platform = await platform_channel(world.client, platform, DEAD, name="Dead platform")
    live_platform = await platform_channel(world.client, platform, world.receiver.url, name="Live platform")
    response = await world.client.post(
        channels_url(world.tenant),
        json={"name": "Dead", "kind": "webhook", "url": DEAD},
        headers=world.tenant.write,
    )
    assert response.status_code == 201, response.text
    dead_org = response.json()["id"]
    await platform_rule(world.client, platform, live_platform["id"], ["status:error"], connection_ids=[quiet])
    # 150 distinct rules on each dead channel (past the bound, as an installation that raised it):
    # 300 notifications due at once, more than one delivery pass claims (200).
    async with world.db.session(write=True) as session:
        await session.execute(
            insert(AlertRule),
            [
                {
                    "id": ids.alert_rule_id(),
                    "organisation_id": organisation_id,
                    "channel_id": channel_id,
                    "events": ["status:error"],
                    "connection_ids": [flooding],
                    "min_duration_seconds": 0,
                    "group_by": [],
                    "group_wait_seconds": 0,
                    "repeat_interval_seconds": 3600 + i,
                    "created_at": world.clock.now,
                }
                for organisation_id, channel_id in ((world.tenant.id, dead_org), (None, dead_platform["id"]))
                for i in range(150)
            ],
        )
    own = await other.channel(name="Team")
    await other.rule(own["id"], ["status:error"])
    await world.tick(T0)

    # The floods are queued a pass before the quiet organisation's connection fails.
    await world.fail(flooding, T0 + timedelta(minutes=1))
    await world.tick(T0 + timedelta(minutes=2))
    assert (
        await world.client.get(log_url(world.tenant), params={"size": 1}, headers=world.tenant.read)
    ).json()["total"] == 150
    assert (await world.client.get(f"{API}/notifications/", params={"size": 1}, headers=platform)).json()[
        "total"
    ] == 150

    await other.fail(quiet, T0 + timedelta(minutes=3))
    world.clock.now = T0 + timedelta(minutes=4)
    await alert_pass(world.db, world.settings, world.clock.now)  # the next delivery pass
    told = sorted(
        (d.json.get("scope", "organisation"), [a["connection"]["id"] for a in d.json["alerts"]])
        for d in world.receiver.received("alert_group")
    )
    assert told == [("organisation", [quiet]), ("platform", [quiet])]


async def test_platform_pages__platform_group_and_channels__listed_organisations_pages_never_show_them(
    world: AlertWorld,
    other_tenant: Tenant,
) -> None:
    other = world.as_tenant(other_tenant)
    world.clock.now = T0 - timedelta(hours=2)
    platform = await platform_headers(world.db, world.clock.now)
    [ours] = await healthy(world)
    [theirs] = await healthy(other)
    channel = await platform_channel(world.client, platform, world.receiver.url, name="Fleet pager")
    rule = await platform_rule(
        world.client, platform, channel["id"], ["status:error"], group_by=["fingerprint"]
    )
    await world.tick(T0)
    await world.fail(ours, T0 + timedelta(minutes=1))
    await other.fail(theirs, T0 + timedelta(minutes=1))
    await world.tick(T0 + timedelta(minutes=2))
    [told] = world.receiver.received("alert_group")
    group_id = told.json["group"]["id"]

    await sign_in(world.client, platform["Authorization"].removeprefix("Bearer "))
    incidents = await world.client.get("/platform/incidents/")
    assert incidents.status_code == 200
    assert f'data-group="{group_id}" data-organisation="platform" id="{group_id}"' in incidents.text
    assert f'href="#{group_id}"' in incidents.text  # its firing alerts link to its row
    assert "/orgs/None/" not in incidents.text
    alerts_page = await world.client.get("/platform/alerts/")
    assert alerts_page.status_code == 200
    assert f'data-channel="{channel["id"]}"' in alerts_page.text
    assert "Fleet pager" in alerts_page.text
    assert f'data-rule="{rule["id"]}"' in alerts_page.text

    # An organisation's session: its Incidents and Alerts pages show none of the platform's.
    await sign_in(world.client, world.tenant.reader)
    for page in (f"/orgs/{world.tenant.id}/incidents/", f"/orgs/{world.tenant.id}/alerts/"):
        answer = await world.client.get(page)
        assert answer.status_code == 200, page
        assert group_id not in answer.text
        assert channel["id"] not in answer.text
        assert rule["id"] not in answer.text
    assert (await world.client.get(f"/orgs/{world.tenant.id}/incidents/{group_id}/")).status_code == 404


async def test_retention__platform_delivery_log__old_entries_deleted_recent_kept(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    platform = await platform_headers(db, clock.now)
    channel = await platform_channel(client, platform, receiver.url)
    own = await add_channel(client, tenant, receiver)
    test = f"{API}/alert-channels/{channel['id']}/test/"
    assert (await client.post(test, headers=platform)).json()["delivered"] is True
    old_at = clock.now
    clock.now = old_at + timedelta(days=alert_settings.run_retention_days + 1)
    assert (await client.post(test, headers=platform)).json()["delivered"] is True
    org_test = await client.post(f"{channels_url(tenant)}{own['id']}/test/", headers=tenant.write)
    assert org_test.json()["delivered"] is True

    deleted = await retention.apply(db, alert_settings.thresholds, clock.now)

    assert deleted.notifications == 1
    log = (await client.get(f"{API}/notifications/", headers=platform)).json()["items"]
    assert [n["created_at"] for n in log] == [clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert (await client.get(log_url(tenant), headers=tenant.read)).json()["total"] == 1
