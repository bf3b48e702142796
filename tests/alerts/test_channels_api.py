"""SPEC §7.3 channels, rules and the test send, through the HTTP API."""

from __future__ import annotations

import base64
import logging
from typing import Any

import httpx
import pytest

from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.wire.webhook_signature import verify
from tests.alerts.receiver import Receiver
from tests.alerts.world import add_channel, add_rule, channels_url, log_url, rules_url
from tests.conftest import FrozenClock, Tenant


async def test_channel_create__webhook__signing_secret_shown_once_and_url_redacted(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    created = await add_channel(client, tenant, receiver)
    assert created["signing_secret"].startswith("whsec_")
    assert created["kind"] == "webhook"
    assert created["enabled"] is True
    assert created["url"] == f"http://127.0.0.1:{receiver.port}/…"

    listed = (await client.get(channels_url(tenant), headers=tenant.read)).json()
    one = (await client.get(channels_url(tenant) + created["id"] + "/", headers=tenant.read)).json()
    for shown in (listed["items"][0], one):
        assert "signing_secret" not in shown
        assert "s3cr3t-query" not in str(shown)
        assert shown["id"] == created["id"]


async def test_channel_create__slack__no_signing_secret(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    created = await add_channel(client, tenant, receiver, kind="slack")
    assert created["signing_secret"] is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/hook", "https://"),
        ("file:///etc/passwd", "https://"),
        ("https:///no-host", "no host"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com:99999/", "port"),
    ],
)
async def test_channel_create__bad_url__422_naming_the_problem(
    client: httpx.AsyncClient, tenant: Tenant, url: str, says: str
) -> None:
    response = await client.post(
        channels_url(tenant), json={"name": "x", "kind": "webhook", "url": url}, headers=tenant.write
    )
    assert response.status_code == 422, response.text
    assert says in str(response.json()["detail"])
    assert (await client.get(channels_url(tenant), headers=tenant.read)).json()["total"] == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_channel_create__private_url_by_default__422(
    settings: Settings, db: Database, clock: FrozenClock, tenant: Tenant, url: str
) -> None:
    app = create_app(settings, clock=clock, database=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post(
            channels_url(tenant), json={"name": "x", "kind": "webhook", "url": url}, headers=tenant.write
        )
    assert response.status_code == 422, response.text
    detail = str(response.json()["detail"])
    assert "PIPEPULSE_ALERTS_ALLOW_PRIVATE_URLS=true" in detail
    assert "/hook" not in detail
    assert "meta-data" not in detail


async def test_channel_create__host_that_does_not_resolve__422(
    settings: Settings, db: Database, clock: FrozenClock, tenant: Tenant
) -> None:
    app = create_app(settings, clock=clock, database=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post(
            channels_url(tenant),
            json={"name": "x", "kind": "webhook", "url": "https://no-such-host.invalid/hook"},
            headers=tenant.write,
        )
    assert response.status_code == 422, response.text
    assert "does not resolve" in str(response.json()["detail"])


async def test_channel_test__receiver_up__delivered_signed_and_logged(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, clock: FrozenClock
) -> None:
    created = await add_channel(client, tenant, receiver)
    response = await client.post(channels_url(tenant) + created["id"] + "/test/", headers=tenant.write)
    assert response.status_code == 200, response.text
    assert response.json() == {"delivered": True, "status_code": 204, "error": None}

    [delivery] = receiver.received()
    note = verify(
        delivery.body,
        delivery.headers["Pipepulse-Signature"],
        created["signing_secret"],
        now=clock.now.timestamp(),
    )
    assert note["type"] == "test"
    assert note["id"] == delivery.headers["Pipepulse-Notification-Id"]
    assert note["organisation"] == {"id": tenant.id, "slug": tenant.slug}
    assert note["links"]["dashboard"] == f"https://pipepulse.example.com/orgs/{tenant.id}/alerts/"

    log = (await client.get(log_url(tenant), headers=tenant.read)).json()
    assert [(n["id"], n["type"], n["state"], n["attempts"]) for n in log["items"]] == [
        (note["id"], "test", "delivered", 1)
    ]


async def test_channel_test__slack__incoming_webhook_body(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    created = await add_channel(client, tenant, receiver, kind="slack")
    response = await client.post(channels_url(tenant) + created["id"] + "/test/", headers=tenant.write)
    assert response.json()["delivered"] is True
    [delivery] = receiver.received(None)
    body = delivery.json
    assert "Test notification" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    assert "Pipepulse-Signature" not in delivery.headers


async def test_channel_test__receiver_answers_500__not_delivered_with_reason(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    created = await add_channel(client, tenant, receiver)
    receiver.statuses = [500]
    response = await client.post(channels_url(tenant) + created["id"] + "/test/", headers=tenant.write)
    assert response.json() == {"delivered": False, "status_code": 500, "error": "HTTP 500: answer 500"}
    log = (await client.get(log_url(tenant) + "?state=failed", headers=tenant.read)).json()
    assert log["items"][0]["last_error"] == "HTTP 500: answer 500"


async def test_channel_test__redirect__not_followed(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    created = await add_channel(client, tenant, receiver)
    receiver.statuses = [302]
    receiver.redirect_to = receiver.url + "&followed=yes"
    result = (await client.post(channels_url(tenant) + created["id"] + "/test/", headers=tenant.write)).json()
    assert result["delivered"] is False
    assert result["status_code"] == 302
    assert "redirects are not followed" in result["error"]
    assert len(receiver.received()) == 1


async def test_channel_test__nothing_listening__error_without_url_secrets(
    client: httpx.AsyncClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.post(
        channels_url(tenant),
        json={
            "name": "dead",
            "kind": "webhook",
            "url": "http://user:pa55word@127.0.0.1:1/h/s3cr3t-path?k=s3cr3t-q",
        },
        headers=tenant.write,
    )
    dead = response.json()
    with caplog.at_level(logging.DEBUG):
        result = (
            await client.post(channels_url(tenant) + dead["id"] + "/test/", headers=tenant.write)
        ).json()
    assert result["delivered"] is False
    assert result["status_code"] is None
    assert "127.0.0.1" in result["error"]
    log = (await client.get(log_url(tenant), headers=tenant.read)).text
    for secret in ("pa55word", "s3cr3t-path", "s3cr3t-q", dead["signing_secret"]):
        assert secret not in result["error"]
        assert secret not in log
        assert secret not in caplog.text


async def test_channel_test__receiver_answers_410__channel_disabled(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    created = await add_channel(client, tenant, receiver)
    receiver.statuses = [410]
    url = channels_url(tenant) + created["id"] + "/"
    assert (await client.post(url + "test/", headers=tenant.write)).json()["status_code"] == 410
    channel = (await client.get(url, headers=tenant.read)).json()
    assert channel["enabled"] is False
    assert "410" in channel["disabled_reason"]
    again = (await client.post(url + "test/", headers=tenant.write)).json()
    assert again["delivered"] is False
    assert len(receiver.received()) == 1


async def test_channels__without_write_alerts_scope__403_and_nothing_written(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, db: Database, clock: FrozenClock
) -> None:
    async with db.session(write=True) as session:
        narrow = await auth_service.create_token(
            session,
            organisation_id=tenant.id,
            scopes=[scopes.READ_PIPELINE_METRICS, scopes.WRITE_CONNECTIONS],
            name="no-alerts",
            now=clock.now,
        )
    headers = {"Authorization": f"Bearer {narrow.token}"}
    body = {"name": "x", "kind": "webhook", "url": receiver.url}
    response = await client.post(channels_url(tenant), json=body, headers=headers)
    assert response.status_code == 403
    assert "write:alerts" in response.json()["detail"]
    created = await add_channel(client, tenant, receiver)
    for method, path in (
        ("POST", channels_url(tenant) + created["id"] + "/test/"),
        ("DELETE", channels_url(tenant) + created["id"] + "/"),
        ("POST", rules_url(tenant)),
    ):
        response = await client.request(
            method, path, json={"channel_id": created["id"], "events": ["late"]}, headers=headers
        )
        assert response.status_code == 403, path
    assert receiver.received() == []
    assert (await client.get(channels_url(tenant), headers=headers)).json()["total"] == 1


async def test_rule_create__valid__201_and_listed(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, connection: dict[str, Any]
) -> None:
    channel = await add_channel(client, tenant, receiver)
    rule = await add_rule(
        client,
        tenant,
        channel["id"],
        ["status:error", "recovered", "status:error"],
        connection_ids=[connection["id"]],
        min_duration_seconds=300,
    )
    assert rule["events"] == ["status:error", "recovered"]
    assert rule["connection_ids"] == [connection["id"]]
    assert rule["min_duration_seconds"] == 300
    listed = (await client.get(rules_url(tenant), headers=tenant.read)).json()
    assert [r["id"] for r in listed["items"]] == [rule["id"]]
    assert (
        await client.delete(rules_url(tenant) + rule["id"] + "/", headers=tenant.write)
    ).status_code == 204
    assert (await client.get(rules_url(tenant) + rule["id"] + "/", headers=tenant.read)).status_code == 404


async def test_rule_create__without_grouping__spec_defaults_answered_and_stored(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    """SPEC §7.4: group_by defaults to ["connection"], with Alertmanager's default timings."""
    channel = await add_channel(client, tenant, receiver)
    body = {"channel_id": channel["id"], "events": ["status:error"]}
    response = await client.post(rules_url(tenant), json=body, headers=tenant.write)
    assert response.status_code == 201, response.text
    expected = {
        "severity": "critical",
        "group_by": ["connection"],
        "group_wait_seconds": 10,
        "group_interval_seconds": 300,
        "repeat_interval_seconds": 14_400,
    }
    assert {k: response.json()[k] for k in expected} == expected
    stored = (await client.get(rules_url(tenant) + response.json()["id"] + "/", headers=tenant.read)).json()
    assert {k: stored[k] for k in expected} == expected
    # Grouping everything the rule matches is still asked for with [].
    everything = await add_rule(client, tenant, channel["id"], ["late"], group_by=[])
    assert everything["group_by"] == []
    refused = await client.post(
        rules_url(tenant),
        json={"channel_id": channel["id"], "events": ["late"], "group_by": None},
        headers=tenant.write,
    )
    assert refused.status_code == 422, refused.text
    assert "group_by" in str(refused.json()["detail"][0]["loc"])


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"events": ["status:active"]}, "events"),
        ({"events": []}, "events"),
        ({"events": ["late"], "min_duration_seconds": -1}, "min_duration_seconds"),
        ({"events": ["late"], "connection_ids": ["wc_nope"]}, "connection_ids"),
        ({"events": ["late"], "surprise": True}, "surprise"),
        ({"events": ["late"], "channel_id": "ach_0000000000000000"}, "channel_id"),
    ],
)
async def test_rule_create__bad_body__422_and_nothing_written(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, body: dict[str, Any], loc: str
) -> None:
    channel = await add_channel(client, tenant, receiver)
    response = await client.post(
        rules_url(tenant), json={"channel_id": channel["id"], **body}, headers=tenant.write
    )
    assert response.status_code == 422, response.text
    assert loc in str(response.json()["detail"][0]["loc"])
    assert (await client.get(rules_url(tenant), headers=tenant.read)).json()["total"] == 0


async def test_channel_delete__with_rules__rules_go_too(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    channel = await add_channel(client, tenant, receiver)
    await add_rule(client, tenant, channel["id"], ["late"])
    assert (
        await client.delete(channels_url(tenant) + channel["id"] + "/", headers=tenant.write)
    ).status_code == 204
    assert (await client.get(rules_url(tenant), headers=tenant.read)).json()["total"] == 0
    assert (
        await client.get(channels_url(tenant) + channel["id"] + "/", headers=tenant.read)
    ).status_code == 404


async def test_channel_test__credentials_in_the_url__sent_as_basic_auth_never_shown(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    url = f"http://hook-user:pa55word@127.0.0.1:{receiver.port}/hooks"
    created = await client.post(
        channels_url(tenant), json={"name": "basic", "kind": "webhook", "url": url}, headers=tenant.write
    )
    assert "pa55word" not in created.text
    result = (
        await client.post(channels_url(tenant) + created.json()["id"] + "/test/", headers=tenant.write)
    ).json()
    assert result["delivered"] is True
    [delivery] = receiver.received()
    assert delivery.headers["Authorization"] == "Basic " + base64.b64encode(b"hook-user:pa55word").decode()
    assert delivery.path == "/hooks"
