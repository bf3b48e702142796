"""Every alerts endpoint is 404 across organisations, exactly as if the thing did not exist;
/metrics counts notifications; secrets stay out of answers and logs."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.test_outbox import setup_error_notification
from tests.alerts.world import add_channel, add_rule, channels_url, log_url, rules_url
from tests.conftest import FrozenClock, Tenant


@pytest.fixture
async def theirs(client: httpx.AsyncClient, other_tenant: Tenant, receiver: Receiver) -> dict[str, Any]:
    channel = await add_channel(client, other_tenant, receiver)
    rule = await add_rule(client, other_tenant, channel["id"], ["late"])
    return {"channel": channel["id"], "rule": rule["id"]}


async def test_tenancy__alerts_reads_with_foreign_ids__404_like_missing_ones(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, theirs: dict[str, Any]
) -> None:
    for org in (other_tenant.id, tenant.id):
        base = f"/api/v1/organisations/{org}"
        for path, missing in (
            (f"{base}/alert-channels/{theirs['channel']}/", f"{base}/alert-channels/ach_0000000000000000/"),
            (f"{base}/alert-rules/{theirs['rule']}/", f"{base}/alert-rules/arl_0000000000000000/"),
        ):
            response = await client.get(path, headers=tenant.read)
            assert response.status_code == 404, path
            assert response.json() == (await client.get(missing, headers=tenant.read)).json()
    for path in ("alert-channels/", "alert-rules/", "notifications/"):
        response = await client.get(f"/api/v1/organisations/{other_tenant.id}/{path}", headers=tenant.read)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "organisation not found"}


async def test_tenancy__alerts_writes_to_foreign_ids__404_and_unchanged(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    theirs: dict[str, Any],
    receiver: Receiver,
) -> None:
    for org in (other_tenant.id, tenant.id):
        base = f"/api/v1/organisations/{org}"
        assert (
            await client.delete(f"{base}/alert-channels/{theirs['channel']}/", headers=tenant.write)
        ).status_code == 404
        assert (
            await client.post(f"{base}/alert-channels/{theirs['channel']}/test/", headers=tenant.write)
        ).status_code == 404
        assert (
            await client.delete(f"{base}/alert-rules/{theirs['rule']}/", headers=tenant.write)
        ).status_code == 404
    body = {"name": "x", "kind": "webhook", "url": receiver.url}
    assert (await client.post(channels_url(other_tenant), json=body, headers=tenant.write)).status_code == 404
    rule = {"channel_id": theirs["channel"], "events": ["late"]}
    assert (await client.post(rules_url(other_tenant), json=rule, headers=tenant.write)).status_code == 404
    # Our own organisation may not aim a rule at their channel either.
    assert (await client.post(rules_url(tenant), json=rule, headers=tenant.write)).status_code == 422
    assert receiver.received() == []
    assert (await client.get(channels_url(other_tenant), headers=other_tenant.read)).json()["total"] == 1
    assert (await client.get(rules_url(other_tenant), headers=other_tenant.read)).json()["total"] == 1


async def test_tenancy__rule_naming_a_foreign_connection__422(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, receiver: Receiver
) -> None:
    created = await client.post(
        other_tenant.connections_url(), json={"name": "theirs", "type": "duckdb"}, headers=other_tenant.write
    )
    channel = await add_channel(client, tenant, receiver)
    response = await client.post(
        rules_url(tenant),
        json={"channel_id": channel["id"], "events": ["late"], "connection_ids": [created.json()["id"]]},
        headers=tenant.write,
    )
    assert response.status_code == 422
    assert "no warehouse connection" in response.json()["detail"][0]["msg"]


async def test_tenancy__delivery_log__only_own_notifications(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    _, connection_id, _ = await setup_error_notification(client, tenant, service_key, clock, receiver)
    await alert_pass(db, alert_settings, clock.now)
    mine = (await client.get(log_url(tenant), headers=tenant.read)).json()
    assert mine["total"] == 1
    theirs = await client.get(log_url(other_tenant), headers=other_tenant.read)
    assert theirs.json()["total"] == 0
    filtered = await client.get(
        log_url(other_tenant), params={"connection_id": connection_id}, headers=other_tenant.read
    )
    assert filtered.json()["total"] == 0


async def test_metrics__notifications__counted_by_type_and_state(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    await setup_error_notification(client, tenant, service_key, clock, receiver)
    await alert_pass(db, alert_settings, clock.now)
    async with db.session(write=True) as session:
        platform = await auth_service.create_token(
            session,
            organisation_id=None,
            scopes=[scopes.READ_PIPELINE_METRICS],
            name="prometheus",
            now=clock.now,
        )
    # Connection series (lateness among them) are for a platform token's scrape.
    text = (await client.get("/metrics", headers={"Authorization": f"Bearer {platform.token}"})).text
    assert 'pipepulse_notifications_total{state="delivered",type="alert_group"} 1.0' in text
    assert "pipepulse_connection_late{" in text


async def test_secrets__signing_secret_and_url_credentials__never_in_answers_or_logs(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every library at INFO (pipepulse's own level by default), pipepulse's loggers at DEBUG.
    # (A database driver's DEBUG log shows statement parameters: never run it in production.)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="pipepulse")
    channel, _, _ = await setup_error_notification(client, tenant, service_key, clock, receiver)
    receiver.statuses = [500]
    await alert_pass(db, alert_settings, clock.now)
    answers = [
        (await client.get(path, headers=tenant.read)).text
        for path in (
            channels_url(tenant),
            channels_url(tenant) + channel["id"] + "/",
            log_url(tenant),
            rules_url(tenant),
        )
    ]
    for secret in (channel["signing_secret"], "s3cr3t-query", "token="):
        assert secret not in caplog.text
        for answer in answers:
            assert secret not in answer
