"""The Incidents page (SPEC §7.7) in a real headless Chromium: a group made by the scheduler's
alert pass from runs pushed over HTTP, its alerts, and its acknowledgement; usable on a phone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

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
from tests.conftest import Tenant, iso

__all__ = ["alerts_browser", "alerts_live_url", "chromium_path", "page"]
pytestmark = pytest.mark.browser


async def test_browser__incidents__group_listed_with_alerts_and_acknowledgement(
    page: Page,
    alerts_browser: Browser,
    alerts_live_url: str,
    tenant: Tenant,
    receiver: Receiver,
    db: Database,
    settings: Settings,
    service_key: dict[str, str],
) -> None:
    api = f"{alerts_live_url}/api/v1/organisations/{tenant.id}"
    write = {"Authorization": f"Bearer {tenant.writer}"}
    live = settings.model_copy(update={"alerts_allow_private_urls": True})
    async with httpx.AsyncClient() as client:
        channel = (
            await client.post(
                f"{api}/alert-channels/",
                json={"name": "Hook", "kind": "webhook", "url": receiver.url},
                headers=write,
            )
        ).json()
        rule = await client.post(
            f"{api}/alert-rules/",
            json={
                "channel_id": channel["id"],
                "events": ["status:error"],
                "group_by": ["fingerprint"],
                "group_wait_seconds": 0,
            },
            headers=write,
        )
        assert rule.status_code == 201, rule.text
        ids = []
        for i in range(3):
            made = await client.post(
                f"{api}/integrations/warehouse-connections/",
                json={"name": f"Replica {i}", "type": "postgres", "state": "connected"},
                headers=write,
            )
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        await alert_pass(db, live, NOW - timedelta(hours=2))
        for cid in ids:
            for k in range(3):
                at = NOW - timedelta(minutes=30 - k)
                body: dict[str, Any] = {
                    "started_at": iso(at - timedelta(seconds=5)),
                    "completed_at": iso(at),
                    "events_delivered": 0,
                    "batches_dlq": 0,
                    "error": f"connection refused to db-{cid[-3:]}.internal:5432",
                }
                pushed = await client.post(
                    f"{api}/integrations/warehouse-connections/{cid}/metrics/", json=body, headers=service_key
                )
                assert pushed.status_code == 201, pushed.text
    await alert_pass(db, live, NOW)
    [sent] = receiver.received("alert_group")
    group_id = sent.json["group"]["id"]

    await sign_in(page, alerts_live_url, tenant.writer)
    await page.goto(f"{alerts_live_url}/orgs/{tenant.id}/incidents/")
    row = page.locator(f"#incidents tr[data-group='{group_id}']")
    await expect(row).to_contain_text("3 connections in Error")
    await expect(row).to_contain_text("3 firing")
    await expect(row).to_contain_text("Open")
    await row.get_by_role("link").click()
    await expect(page.locator("#incident-alerts tbody tr")).to_have_count(3)
    await expect(page.locator("#incident-alerts")).to_contain_text("Replica 1")

    async with httpx.AsyncClient() as client:
        ack = await client.post(
            f"{api}/alert-groups/{group_id}/acknowledge", json={"comment": "on it"}, headers=write
        )
        assert ack.status_code == 200, ack.text
    await page.reload()
    await expect(page.locator("#incidents")).to_contain_text("“on it”")

    # The organisation page shows the open group above the cards, acknowledged.
    await page.goto(f"{alerts_live_url}/orgs/{tenant.id}/")
    opened = page.locator(f"#open-groups li[data-group='{group_id}']")
    await expect(opened).to_contain_text("3 connections in Error")
    await expect(opened).to_contain_text("3 firing")
    await expect(opened).to_contain_text("acknowledged by")
    above = await page.locator("#open-groups").bounding_box()
    cards = await page.locator("ul.cards").bounding_box()
    assert above is not None
    assert cards is not None
    assert above["y"] + above["height"] <= cards["y"]
    await opened.get_by_role("link").click()
    await expect(page.locator("#incident-alerts tbody tr")).to_have_count(3)

    phone = await alerts_browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    small = await phone.new_page()
    await sign_in(small, alerts_live_url, tenant.reader)
    await small.goto(f"{alerts_live_url}/orgs/{tenant.id}/incidents/")
    await expect(small.locator("#incidents")).to_be_visible()
    width = await small.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1
    await small.goto(f"{alerts_live_url}/orgs/{tenant.id}/")
    await expect(small.locator("#open-groups")).to_be_visible()
    width = await small.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1
    await phone.close()
