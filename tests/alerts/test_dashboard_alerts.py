"""The Alerts page and the notifications on a Streaming Status page, over HTTP (SPEC §7.3)."""

from __future__ import annotations

import re

import httpx

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.test_outbox import setup_error_notification
from tests.alerts.world import add_channel, add_rule, channels_url
from tests.conftest import FrozenClock, Tenant


async def sign_in(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post("/sign-in", data={"token": token})
    assert response.status_code == 303, response.text


async def test_alerts_page__writer_adds_channel__secret_shown_once_and_test_delivered(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    await sign_in(client, tenant.writer)
    page = f"/orgs/{tenant.id}/alerts/"
    response = await client.post(
        page + "channels",
        data={"name": "Pager", "kind": "webhook", "url": receiver.url},
        headers={"Origin": "http://pipepulse.test"},
    )
    assert response.status_code == 200, response.text
    secret = re.search(r"data-secret>(whsec_[^<]+)<", response.text)
    assert secret is not None
    assert "s3cr3t-query" not in response.text
    again = await client.get(page)
    assert secret.group(1) not in again.text
    assert "Pager" in again.text

    [channel] = (await client.get(channels_url(tenant), headers=tenant.read)).json()["items"]
    tested = await client.post(
        page + f"channels/{channel['id']}/test", headers={"Origin": "http://pipepulse.test"}
    )
    assert "Test delivered to “Pager” (HTTP 204)" in tested.text
    assert 'data-type="test"' in tested.text
    assert 'data-state="delivered"' in tested.text
    assert len(receiver.received()) == 1


async def test_alerts_page__bad_url__422_with_the_reason_and_nothing_added(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await sign_in(client, tenant.writer)
    response = await client.post(
        f"/orgs/{tenant.id}/alerts/channels",
        data={"name": "x", "kind": "webhook", "url": "ftp://example.com/"},
        headers={"Origin": "http://pipepulse.test"},
    )
    assert response.status_code == 422
    assert "must start with https://" in response.text
    assert (await client.get(channels_url(tenant), headers=tenant.read)).json()["total"] == 0


async def test_alerts_page__reader_without_write_alerts__sees_no_forms_and_posts_refused(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    channel = await add_channel(client, tenant, receiver)
    await sign_in(client, tenant.reader)
    page = await client.get(f"/orgs/{tenant.id}/alerts/")
    assert page.status_code == 200
    assert "lacks <code>write:alerts</code>" in page.text
    assert 'action="/orgs/' not in page.text.split("sign-out")[-1]
    for path in (f"channels/{channel['id']}/test", f"channels/{channel['id']}/delete", "rules"):
        response = await client.post(
            f"/orgs/{tenant.id}/alerts/{path}", headers={"Origin": "http://pipepulse.test"}
        )
        assert response.status_code == 403, path
    assert receiver.received() == []
    assert (await client.get(channels_url(tenant), headers=tenant.read)).json()["total"] == 1


async def test_alerts_page__post_from_another_site__refused(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    channel = await add_channel(client, tenant, receiver)
    await sign_in(client, tenant.writer)
    response = await client.post(
        f"/orgs/{tenant.id}/alerts/channels/{channel['id']}/delete",
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert (await client.get(channels_url(tenant), headers=tenant.read)).json()["total"] == 1


async def test_alerts_page__rule_added_then_deleted__listed_then_gone(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, connection: dict[str, object]
) -> None:
    channel = await add_channel(client, tenant, receiver)
    await sign_in(client, tenant.writer)
    origin = {"Origin": "http://pipepulse.test"}
    added = await client.post(
        f"/orgs/{tenant.id}/alerts/rules",
        content=f"channel_id={channel['id']}&events=status%3Aerror&events=late"
        f"&connection_ids={connection['id']}&min_duration_seconds=120",
        headers=origin | {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert added.status_code == 303
    [rule] = (
        await client.get(f"/api/v1/organisations/{tenant.id}/alert-rules/", headers=tenant.read)
    ).json()["items"]
    assert (rule["events"], rule["connection_ids"], rule["min_duration_seconds"]) == (
        ["status:error", "late"],
        [connection["id"]],
        120,
    )
    page = await client.get(added.headers["location"])
    assert "The rule was added." in page.text
    assert f'data-rule-id="{rule["id"]}"' in page.text
    refused = await client.post(
        f"/orgs/{tenant.id}/alerts/rules", data={"channel_id": channel["id"]}, headers=origin
    )
    assert refused.status_code == 422
    deleted = await client.post(f"/orgs/{tenant.id}/alerts/rules/{rule['id']}/delete", headers=origin)
    assert deleted.status_code == 303
    assert (await client.get(f"/api/v1/organisations/{tenant.id}/alert-rules/", headers=tenant.read)).json()[
        "total"
    ] == 0


async def test_connection_page__notifications_sent_for_it__listed(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    _, connection_id, _ = await setup_error_notification(client, tenant, service_key, clock, receiver)
    await alert_pass(db, alert_settings, clock.now)
    await sign_in(client, tenant.reader)
    page = await client.get(f"/orgs/{tenant.id}/connections/{connection_id}/")
    assert page.status_code == 200
    # The group of this one connection (the default group_by) is listed on its page.
    assert 'data-type="alert_group"' in page.text
    assert 'data-state="delivered"' in page.text
    # The first evaluation compares with the interval before (SPEC §7.3): degraded by the first failure.
    assert "Degraded → Error" in page.text
    org_page = await client.get(f"/orgs/{tenant.id}/alerts/")
    assert "Degraded → Error" in org_page.text


async def test_alerts_page__other_organisation__404_for_pages_and_changes(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    receiver: Receiver,
    db: Database,
    clock: FrozenClock,
) -> None:
    theirs = await add_channel(client, other_tenant, receiver)
    await add_rule(client, other_tenant, theirs["id"], ["late"])
    await sign_in(client, tenant.writer)
    origin = {"Origin": "http://pipepulse.test"}
    assert (await client.get(f"/orgs/{other_tenant.id}/alerts/")).status_code == 404
    for path in (f"channels/{theirs['id']}/test", f"channels/{theirs['id']}/delete", "rules", "channels"):
        response = await client.post(f"/orgs/{other_tenant.id}/alerts/{path}", headers=origin)
        assert response.status_code == 404, path
    # Their channel id under our own organisation's path is just as unknown.
    for path in (f"channels/{theirs['id']}/test", f"channels/{theirs['id']}/delete"):
        assert (await client.post(f"/orgs/{tenant.id}/alerts/{path}", headers=origin)).status_code == 404, (
            path
        )
    assert receiver.received() == []
    assert (await client.get(channels_url(other_tenant), headers=other_tenant.read)).json()["total"] == 1
    async with db.session(write=True) as session:
        platform = await auth_service.create_token(
            session, organisation_id=None, scopes=[scopes.READ_PIPELINE_METRICS], name="p", now=clock.now
        )
    await sign_in(client, platform.token)
    assert (await client.get(f"/orgs/{other_tenant.id}/alerts/")).status_code == 200
