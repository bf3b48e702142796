"""The platform pages and the acknowledge form, over HTTP (SPEC §7.4, §7.7): every organisation's
open groups for a platform session, platform silences made by form, acknowledgement from the
Incidents pages; an organisation's session sees none of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.test_channel_status import statements
from tests.alerts.test_dashboard_alerts import sign_in
from tests.alerts.world import AlertWorld, add_channel, add_rule, runs
from tests.conftest import FrozenClock, Tenant, make_tenant

T0 = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
ORIGIN = {"Origin": "http://pipepulse.test"}
PLATFORM_SILENCES = "/api/v1/platform/silences/"


@dataclass
class Fleet:
    groups: dict[int, str]  # organisation id → its open group
    connections: dict[int, list[str]]
    platform_reader: str
    platform_writer: str

    @property
    def platform_read(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.platform_reader}"}


async def platform_tokens(db: Database, now: datetime) -> tuple[str, str]:
    async with db.session(write=True) as session:
        reader = await auth_service.create_token(
            session,
            organisation_id=None,
            scopes=[scopes.READ_PIPELINE_METRICS],
            name="platform eyes",
            now=now,
        )
        writer = await auth_service.create_token(
            session, organisation_id=None, scopes=list(scopes.ALL), name="platform on-call", now=now
        )
    return reader.token, writer.token


@pytest.fixture
async def fleet(world: AlertWorld, other_tenant: Tenant) -> Fleet:
    """Two PostgreSQL connections of acme and one Snowflake connection of globex in error, each
    organisation's rule grouping everything it matches into one open group."""
    tenant, clock = world.tenant, world.clock
    made: dict[int, list[str]] = {}
    kinds = {tenant.id: ["postgres", "postgres"], other_tenant.id: ["snowflake"]}
    for who in (tenant, other_tenant):
        acting = world.as_tenant(who)
        clock.now = T0 - timedelta(hours=1)
        made[who.id] = []
        for i, kind in enumerate(kinds[who.id]):
            body = {"name": f"{who.slug} replica {i}", "type": kind, "state": "connected"}
            response = await world.client.post(who.connections_url(), json=body, headers=who.write)
            assert response.status_code == 201, response.text
            made[who.id].append(response.json()["id"])
        channel = await acting.channel()
        await acting.rule(channel["id"], ["status:error"], group_by=[], group_wait_seconds=0)
        for k in range(3):
            clock.now = T0 - timedelta(minutes=30 - k)
            await acting.runs(made[who.id], clock.now, lambda i: f"connection refused to db-{i}:5432")
    await world.tick(T0, replicas=1)
    groups = {
        d.json["organisation"]["id"]: d.json["group"]["id"] for d in world.receiver.received("alert_group")
    }
    assert set(groups) == {tenant.id, other_tenant.id}
    reader, writer = await platform_tokens(world.db, T0)
    return Fleet(groups, made, reader, writer)


def row(html: str, start: str) -> str:
    """One table row of a page, from its opening tag to just before its end."""
    at = html.index(start)
    return html[at : html.index("</tr>", at)]


async def group_of(client: httpx.AsyncClient, who: Tenant, group_id: str) -> dict[str, Any]:
    listed = await client.get(f"/api/v1/organisations/{who.id}/alert-groups/", headers=who.read)
    [found] = [g for g in listed.json()["items"] if g["id"] == group_id]
    return dict(found)


async def test_platform_incidents__every_organisations_open_groups__counted_and_linked(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, fleet: Fleet
) -> None:
    await sign_in(client, fleet.platform_reader)
    page = await client.get("/platform/incidents/")
    assert page.status_code == 200, page.text
    html = page.text
    for who in (tenant, other_tenant):
        group = fleet.groups[who.id]
        assert f'data-group="{group}" data-organisation="{who.id}"' in html
        assert f'href="/orgs/{who.id}/incidents/{group}/"' in html
        for cid in fleet.connections[who.id]:
            assert f'href="/orgs/{who.id}/connections/{cid}/"' in html
    assert 'data-metric="open_groups" data-value="2"' in html
    assert 'data-metric="firing_connections" data-value="3"' in html
    assert "2 connections in Error" in html
    assert "1 connection in Error" in html
    # Counts by organisation, destination type and fingerprint: connections, then groups.
    acme = row(html, f'<tr data-organisation="{tenant.id}">')
    assert f'<a href="/orgs/{tenant.id}/incidents/">Acme</a>' in acme
    assert acme.endswith("<td>2</td><td>1</td>")
    globex = row(html, f'<tr data-organisation="{other_tenant.id}">')
    assert f'<a href="/orgs/{other_tenant.id}/incidents/">Globex</a>' in globex
    assert globex.endswith("<td>1</td><td>1</td>")
    assert row(html, '<tr data-destination="postgres">').endswith("PostgreSQL</th><td>2</td><td>1</td>")
    assert row(html, '<tr data-destination="snowflake">').endswith("Snowflake</th><td>1</td><td>1</td>")
    # One error template across both organisations: one fingerprint, three connections, two groups.
    listed = await client.get(
        tenant.connection_url(fleet.connections[tenant.id][0]) + "metrics/", headers=tenant.read
    )
    fingerprint = listed.json()["items"][0]["error_fingerprint"]
    assert row(html, f'<tr data-fingerprint="{fingerprint}">').endswith("<td>3</td><td>2</td>")
    assert html.count('<tr data-connection="') == 3
    # A reader may look; the acknowledge forms are for writers.
    assert "/acknowledge" not in html


async def test_platform_incidents__none_open__says_so(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    reader, _ = await platform_tokens(db, clock.now)
    await sign_in(client, reader)
    page = await client.get("/platform/incidents/")
    assert page.status_code == 200
    assert 'id="incidents-empty"' in page.text


async def test_platform_pages__organisation_session__no_such_page_and_changes_refused(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, fleet: Fleet
) -> None:
    await sign_in(client, tenant.writer)
    for path in ("/platform/incidents/", "/platform/alerts/"):
        page = await client.get(path)
        assert page.status_code == 404, path
        assert "platform pages need a platform token" in page.text
        assert fleet.groups[other_tenant.id] not in page.text
        assert "Globex" not in page.text
    made = await client.post(
        "/platform/alerts/silences", data={"matchers": "condition=error", "duration": "1h"}, headers=ORIGIN
    )
    assert made.status_code == 404
    assert (await client.get(PLATFORM_SILENCES, headers=fleet.platform_read)).json() == []
    # Acknowledging another organisation's group: not found, through either organisation's path.
    theirs = fleet.groups[other_tenant.id]
    for org in (tenant.id, other_tenant.id):
        response = await client.post(
            f"/orgs/{org}/incidents/{theirs}/acknowledge",
            data={"comment": "mine now", "back": "platform"},
            headers=ORIGIN,
        )
        assert response.status_code == 404, org
        assert "mine now" not in response.text
    assert (await group_of(client, other_tenant, theirs))["acknowledged_by"] is None
    # The organisation's own Incidents page never lists the other's group.
    own = await client.get(f"/orgs/{tenant.id}/incidents/")
    assert fleet.groups[tenant.id] in own.text
    assert theirs not in own.text


async def test_acknowledge_form__organisation_writer__shown_with_who_when_and_comment(
    client: httpx.AsyncClient, tenant: Tenant, fleet: Fleet
) -> None:
    group = fleet.groups[tenant.id]
    await sign_in(client, tenant.writer)
    listing = await client.get(f"/orgs/{tenant.id}/incidents/")
    assert f'action="/orgs/{tenant.id}/incidents/{group}/acknowledge"' in listing.text
    done = await client.post(
        f"/orgs/{tenant.id}/incidents/{group}/acknowledge", data={"comment": "DBA on it"}, headers=ORIGIN
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/orgs/{tenant.id}/incidents/{group}/?done=acknowledged"
    shown = await group_of(client, tenant, group)
    assert (shown["acknowledged_by"], shown["acknowledge_comment"]) == ("w", "DBA on it")
    assert shown["acknowledged_at"] == "2026-04-20T12:00:00Z"
    page = await client.get(done.headers["location"])
    assert "The group was acknowledged" in page.text
    assert "w, <time" in page.text
    assert "“DBA on it”" in page.text
    assert "Acknowledge again" in page.text
    # No comment at all is fine (the API's default).
    again = await client.post(f"/orgs/{tenant.id}/incidents/{group}/acknowledge", headers=ORIGIN)
    assert again.status_code == 303
    assert (await group_of(client, tenant, group))["acknowledge_comment"] == ""


async def test_acknowledge_form__from_platform_page__recorded_under_the_platform_token_back_there(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, fleet: Fleet
) -> None:
    group = fleet.groups[other_tenant.id]
    await sign_in(client, fleet.platform_writer)
    page = await client.get("/platform/incidents/")
    assert f'action="/orgs/{other_tenant.id}/incidents/{group}/acknowledge"' in page.text
    done = await client.post(
        f"/orgs/{other_tenant.id}/incidents/{group}/acknowledge",
        data={"comment": "platform sees it", "back": "platform"},
        headers=ORIGIN,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/platform/incidents/?done=acknowledged"
    shown = await group_of(client, other_tenant, group)
    assert (shown["acknowledged_by"], shown["acknowledge_comment"]) == (
        "platform on-call",
        "platform sees it",
    )
    assert (await group_of(client, tenant, fleet.groups[tenant.id]))["acknowledged_by"] is None
    after = await client.get(done.headers["location"])
    assert "The group was acknowledged" in after.text
    assert "platform on-call, <time" in after.text
    assert "“platform sees it”" in after.text


async def test_acknowledge_form__bad_input_reader_other_site_closed__refused_nothing_changed(
    client: httpx.AsyncClient,
    tenant: Tenant,
    fleet: Fleet,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    service_key: dict[str, str],
) -> None:
    group = fleet.groups[tenant.id]
    path = f"/orgs/{tenant.id}/incidents/{group}/acknowledge"
    await sign_in(client, fleet.platform_writer)
    long = await client.post(path, data={"comment": "x" * 2001, "back": "platform"}, headers=ORIGIN)
    assert long.status_code == 422
    assert "comment: String should have at most 2000 characters" in long.text
    assert 'id="incidents-error"' in long.text
    assert 'id="fleet-summary"' in long.text  # the platform page again
    await sign_in(client, tenant.writer)
    long = await client.post(path, data={"comment": "y" * 2001}, headers=ORIGIN)
    assert long.status_code == 422
    assert "comment: String should have at most 2000 characters" in long.text
    assert 'value="' + "y" * 2001 + '"' in long.text  # the form as typed
    other_site = await client.post(path, data={"comment": "a"}, headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    await sign_in(client, tenant.reader)
    reader = await client.post(path, data={"comment": "a"}, headers=ORIGIN)
    assert reader.status_code == 403
    assert "write:alerts" in reader.text
    assert (await group_of(client, tenant, group))["acknowledged_by"] is None

    # The connections deliver again: the group resolves and closes; a closed group is a 409.
    clock.now = T0 + timedelta(minutes=5)
    await runs(client, tenant, service_key, fleet.connections[tenant.id], clock.now, None)
    await alert_pass(db, alert_settings, clock.now)
    assert (await group_of(client, tenant, group))["state"] == "closed"
    await sign_in(client, tenant.writer)
    closed = await client.post(path, data={"comment": "late"}, headers=ORIGIN)
    assert closed.status_code == 409
    assert "only an open group can be acknowledged" in closed.text
    assert (await group_of(client, tenant, group))["acknowledged_by"] is None


async def test_platform_silence_form__added_listed_expired_through_the_platform_api(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, fleet: Fleet
) -> None:
    # Globex silences its own alerts: the platform page marks only its group silenced.
    own = await client.post(
        f"/api/v1/organisations/{other_tenant.id}/silences/",
        json={
            "matchers": {"condition": "error"},
            "starts_at": "2026-04-20T11:00:00Z",
            "ends_at": "2026-04-21T00:00:00Z",
        },
        headers=other_tenant.write,
    )
    assert own.status_code == 201, own.text
    await sign_in(client, fleet.platform_writer)
    incidents = (await client.get("/platform/incidents/")).text
    assert "1 silenced" in row(incidents, f'<tr data-group="{fleet.groups[other_tenant.id]}"')
    assert "silenced" not in row(incidents, f'<tr data-group="{fleet.groups[tenant.id]}"')
    page = await client.get("/platform/alerts/")
    assert page.status_code == 200
    assert 'aria-label="Add a silence"' in page.text
    assert "Add a maintenance window" not in page.text
    added = await client.post(
        "/platform/alerts/silences",
        data={
            "matchers": "organisation=acme\ncondition=error",
            "duration": "90m",
            "comment": "acme migration",
        },
        headers=ORIGIN,
    )
    assert added.status_code == 303, added.text
    assert added.headers["location"] == "/platform/alerts/?done=silence-added"
    [silence] = (await client.get(PLATFORM_SILENCES, headers=fleet.platform_read)).json()
    assert (silence["organisation_id"], silence["matchers"]) == (
        None,
        {"organisation": "acme", "condition": "error"},
    )
    assert (silence["state"], silence["created_by"], silence["comment"]) == (
        "active",
        "platform on-call",
        "acme migration",
    )
    assert silence["ends_at"] == "2026-04-20T13:30:00Z"
    shown = await client.get(added.headers["location"])
    assert "The silence was added." in shown.text
    assert f'data-silence-id="{silence["id"]}" data-state="active"' in shown.text
    assert f'action="/platform/alerts/silences/{silence["id"]}/expire"' in shown.text
    # It silences acme's firing alerts now: the group's page names it.
    group = await group_of(client, tenant, fleet.groups[tenant.id])
    assert all(a["silenced_by"] == [silence["id"]] for a in group["alerts"])
    incidents = (await client.get("/platform/incidents/")).text
    assert "2 silenced" in row(incidents, f'<tr data-group="{fleet.groups[tenant.id]}"')
    assert "1 silenced" in row(incidents, f'<tr data-group="{fleet.groups[other_tenant.id]}"')
    # Never listed as the organisation's own.
    assert (
        await client.get(f"/api/v1/organisations/{tenant.id}/silences/", headers=tenant.read)
    ).json() == []

    expired = await client.post(f"/platform/alerts/silences/{silence['id']}/expire", headers=ORIGIN)
    assert expired.status_code == 303
    [after] = (await client.get(PLATFORM_SILENCES, headers=fleet.platform_read)).json()
    assert after["state"] == "expired"
    page = await client.get(expired.headers["location"])
    assert "The silence was expired." in page.text
    assert silence["id"] not in page.text


async def test_platform_silence_form__bad_fields__422_with_the_api_message_nothing_added(
    client: httpx.AsyncClient, fleet: Fleet
) -> None:
    await sign_in(client, fleet.platform_writer)
    cases = {
        "a bad regex": ({"matchers": "connection=~(", "duration": "1h"}, "connection"),
        "no end": ({"matchers": "condition=error"}, "give an end or a duration"),
        "an end in the past": (
            {"matchers": "condition=error", "ends_at": "2026-04-19T10:00"},
            "ends_at must lie after",
        ),
        "a long comment": (
            {"matchers": "condition=error", "duration": "1h", "comment": "x" * 2001},
            "comment",
        ),
    }
    for case, (data, reason) in cases.items():
        response = await client.post("/platform/alerts/silences", data=data, headers=ORIGIN)
        assert response.status_code == 422, case
        assert reason in response.text, case
        assert 'id="alerts-error"' in response.text, case
    kept = await client.post(
        "/platform/alerts/silences", data={"matchers": "connection=~(", "duration": "1h"}, headers=ORIGIN
    )
    assert ">connection=~(</textarea>" in kept.text
    assert (await client.get(PLATFORM_SILENCES, headers=fleet.platform_read)).json() == []


async def test_platform_silence_form__reader_and_other_site__refused(
    client: httpx.AsyncClient, fleet: Fleet, tenant: Tenant
) -> None:
    made = await client.post(
        PLATFORM_SILENCES,
        json={
            "matchers": {"condition": "error"},
            "starts_at": "2026-04-20T11:00:00Z",
            "ends_at": "2026-04-21T00:00:00Z",
        },
        headers={"Authorization": f"Bearer {fleet.platform_writer}"},
    )
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    await sign_in(client, fleet.platform_reader)
    page = await client.get("/platform/alerts/")
    assert f'data-silence-id="{sid}"' in page.text
    assert "Add a silence" not in page.text
    for path in ("/platform/alerts/silences", f"/platform/alerts/silences/{sid}/expire"):
        response = await client.post(path, data={"matchers": "a=b", "duration": "1h"}, headers=ORIGIN)
        assert response.status_code == 403, path
    await sign_in(client, fleet.platform_writer)
    response = await client.post(
        f"/platform/alerts/silences/{sid}/expire", headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    # An organisation's silence is not a platform silence: not found here.
    theirs = await client.post(
        f"/api/v1/organisations/{tenant.id}/silences/",
        json={
            "matchers": {"condition": "error"},
            "starts_at": "2026-04-20T11:00:00Z",
            "ends_at": "2026-04-21T00:00:00Z",
        },
        headers=tenant.write,
    )
    assert (
        await client.post(f"/platform/alerts/silences/{theirs.json()['id']}/expire", headers=ORIGIN)
    ).status_code == 404
    [still] = (await client.get(PLATFORM_SILENCES, headers=fleet.platform_read)).json()
    assert still["state"] == "active"


async def test_platform_incidents__more_organisations__same_number_of_statements(
    client: httpx.AsyncClient,
    fleet: Fleet,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
    service_key: dict[str, str],
) -> None:
    await sign_in(client, fleet.platform_reader)
    with statements(db) as two:
        assert (await client.get("/platform/incidents/")).status_code == 200
    third = await make_tenant(db, "initech", T0)
    clock.now = T0 + timedelta(minutes=1)
    made = []
    for i in range(2):
        body = {"name": f"initech replica {i}", "type": "bigquery", "state": "connected"}
        response = await client.post(third.connections_url(), json=body, headers=third.write)
        made.append(response.json()["id"])
    channel = await add_channel(client, third, receiver)
    await add_rule(
        client, third, channel["id"], ["status:error"], group_by=["connection"], group_wait_seconds=0
    )
    await alert_pass(db, alert_settings, clock.now)
    for k in range(3):
        clock.now = T0 + timedelta(minutes=2 + k)
        await runs(client, third, service_key, made, clock.now, lambda i: f"quota exceeded for job {i}")
    await alert_pass(db, alert_settings, clock.now)
    with statements(db) as three:
        page = await client.get("/platform/incidents/")
    assert 'data-metric="open_groups" data-value="4"' in page.text  # two more: one per connection
    assert len(three) == len(two)
