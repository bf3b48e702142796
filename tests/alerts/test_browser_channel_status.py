"""The Alerts page's "What each channel last did" panel in a real headless Chromium, against a
real server, a real receiver and real scheduler passes."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.test_browser_alerts import (
    NOW,
    alerts_browser,
    alerts_live_url,
    chromium_path,
    page,
    sign_in,
)
from tests.conftest import Tenant

__all__ = ["alerts_browser", "alerts_live_url", "chromium_path", "page"]

pytestmark = pytest.mark.browser


async def _channel(api: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, name: str) -> str:
    created = await api.post(
        f"/api/v1/organisations/{tenant.id}/alert-channels/",
        json={"name": name, "kind": "webhook", "url": receiver.url},
        headers=tenant.write,
    )
    assert created.status_code == 201, created.text
    channel_id: str = created.json()["id"]
    return channel_id


async def _test_send(api: httpx.AsyncClient, tenant: Tenant, channel_id: str) -> None:
    sent = await api.post(
        f"/api/v1/organisations/{tenant.id}/alert-channels/{channel_id}/test/", headers=tenant.write
    )
    assert sent.status_code == 200, sent.text


async def test_browser__alerts_page__each_channel_shows_its_last_delivery_and_heartbeats(
    page: Page,
    alerts_live_url: str,
    tenant: Tenant,
    other_tenant: Tenant,
    receiver: Receiver,
    db: Database,
    settings: Settings,
) -> None:
    async with httpx.AsyncClient(base_url=alerts_live_url) as api:
        works = await _channel(api, tenant, receiver, "Works")
        broken = await _channel(api, tenant, receiver, "Broken")
        quiet = await _channel(api, tenant, receiver, "Quiet")
        theirs = await _channel(api, other_tenant, receiver, "Theirs")
        receiver.statuses = [204, 503, 500]
        await _test_send(api, tenant, works)
        await _test_send(api, tenant, broken)
        await _test_send(api, other_tenant, theirs)
        asked = await api.post(
            f"/api/v1/organisations/{tenant.id}/alert-channels/{quiet}/heartbeat/",
            json={"interval_seconds": 60},
            headers=tenant.write,
        )
        assert asked.status_code == 200, asked.text
    # Two schedulers each send the Quiet channel a heartbeat: the first taken, the second refused.
    receiver.statuses = [204, 502]
    passes = settings.model_copy(update={"alerts_allow_private_urls": True})
    await alert_pass(db, passes, NOW, scheduler="host-a:1")
    await alert_pass(db, passes, NOW, scheduler="host-b:2")

    await sign_in(page, alerts_live_url, tenant.reader)
    await page.goto(f"{alerts_live_url}/orgs/{tenant.id}/alerts/")
    panel = page.get_by_role("region", name="What each channel last did")
    await expect(panel).to_be_visible()
    rows = panel.locator("tbody tr")
    # Same order as the Channels table (created together under a frozen clock: by id).
    await expect(rows).to_have_count(3)
    assert sorted(await rows.locator("th").all_inner_texts()) == ["Broken", "Quiet", "Works"]

    def row(name: str) -> Locator:
        return rows.filter(has=page.get_by_role("rowheader", name=name, exact=True))

    await expect(row("Works")).to_have_attribute("data-last-state", "delivered")
    await expect(row("Works").locator("td").nth(1)).to_have_text("Delivered")
    await expect(row("Works").locator("td").nth(2)).to_have_text("HTTP 204")
    await expect(row("Works").locator("td").first).to_contain_text("Test")
    await expect(row("Works").locator("time").first).to_have_attribute("datetime", "2026-04-20T12:00:00Z")

    await expect(row("Broken")).to_have_attribute("data-last-state", "failed")
    await expect(row("Broken").locator("td").nth(1)).to_have_text("Failed")
    await expect(row("Broken").locator("td").nth(2)).to_have_text("HTTP 503: answer 503")
    await expect(row("Broken")).not_to_contain_text("s3cr3t-query")

    quiet_row = row("Quiet")
    await expect(quiet_row).to_have_attribute("data-last-state", "none")
    await expect(quiet_row.locator("td").first).to_have_text("Nothing sent yet")
    beats = quiet_row.locator(".heartbeats li")
    await expect(beats).to_have_count(2)
    await expect(beats.nth(0)).to_have_attribute("data-heartbeat", "delivered")
    await expect(beats.nth(0)).to_contain_text("host-a:1: Delivered")
    await expect(beats.nth(0)).to_contain_text("HTTP 204")
    await expect(beats.nth(1)).to_have_attribute("data-heartbeat", "failed")
    await expect(beats.nth(1)).to_contain_text("host-b:2: Failed")
    await expect(beats.nth(1)).to_contain_text("HTTP 502: answer 502")
    await expect(beats.nth(1)).not_to_contain_text("HTTP 502: HTTP 502")

    # Another organisation's channel and its failure are nowhere on the page.
    await expect(page.get_by_text("Theirs")).to_have_count(0)
    await expect(page.locator(f'[data-channel-id="{theirs}"]')).to_have_count(0)
