"""Silences and maintenance windows on the Alerts page (SPEC §7.4, §7.7) in a real headless
Chromium against a real server: add, refuse a bad field, list, expire and delete; on a phone."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.alerts.test_browser_alerts import (
    alerts_browser,
    alerts_live_url,
    chromium_path,
    page,
    sign_in,
)
from tests.conftest import Tenant

__all__ = ["alerts_browser", "alerts_live_url", "chromium_path", "page"]
pytestmark = pytest.mark.browser


async def test_browser__silences__add_refuse_list_expire(
    page: Page, alerts_live_url: str, tenant: Tenant
) -> None:
    # The live server's clock stands at 2026-04-20 12:00 UTC.
    await sign_in(page, alerts_live_url, tenant.writer)
    await page.goto(f"{alerts_live_url}/orgs/{tenant.id}/alerts/")
    await expect(page.get_by_text("No active or pending silences.")).to_be_visible()

    form = page.get_by_role("form", name="Add a silence")
    await form.get_by_label("Matchers").fill("condition=~(")
    await form.get_by_label("or for").fill("2h")
    await form.get_by_label("Comment").fill("Warehouse upgrade")
    await form.get_by_role("button", name="Add silence").click()
    await expect(page.get_by_role("alert")).to_contain_text("matcher 'condition'")
    await expect(page.get_by_role("alert")).to_contain_text("is not a regular expression")
    form = page.get_by_role("form", name="Add a silence")
    await expect(form.get_by_label("Matchers")).to_have_value("condition=~(")
    await expect(form.get_by_label("Comment")).to_have_value("Warehouse upgrade")

    await form.get_by_label("Matchers").fill("condition=error\nconnection!=wc_0000000000000000")
    await form.get_by_role("button", name="Add silence").click()
    await expect(page.get_by_role("status")).to_have_text("The silence was added.")
    rows = page.locator("table.silences tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-state", "active")
    await expect(rows.first.locator(".chip")).to_have_text(
        ["condition=error", "connection!=wc_0000000000000000"]
    )
    await expect(rows.first.locator("td").nth(3)).to_contain_text("14:00")
    await expect(rows.first).to_contain_text("Warehouse upgrade")

    form = page.get_by_role("form", name="Add a silence")
    await form.get_by_label("Matchers").fill("severity=warning")
    await form.get_by_label("Starts (UTC)").fill("2026-04-21T08:00")
    await form.get_by_label("Ends (UTC)").fill("2026-04-21T10:30")
    await form.get_by_role("button", name="Add silence").click()
    await expect(rows).to_have_count(2)
    pending = page.locator('table.silences tbody tr[data-state="pending"]')
    await expect(pending.locator("td").nth(2)).to_contain_text("2026-04-21")
    await expect(pending.locator("td").nth(3)).to_contain_text("10:30")

    active = page.locator('table.silences tbody tr[data-state="active"]')
    await active.get_by_role("button", name="Expire").click()
    await expect(page.get_by_role("status")).to_have_text("The silence was expired.")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-state", "pending")


async def test_browser__maintenance_windows__add_list_delete_and_fit_a_phone(
    page: Page, alerts_browser: Browser, alerts_live_url: str, tenant: Tenant
) -> None:
    await sign_in(page, alerts_live_url, tenant.writer)
    await page.goto(f"{alerts_live_url}/orgs/{tenant.id}/alerts/")
    await expect(page.get_by_text("No maintenance windows.")).to_be_visible()
    form = page.get_by_role("form", name="Add a maintenance window")
    await form.get_by_label("Matchers").fill("type=postgres")
    await form.get_by_label("Time zone").fill("Mars/Olympus")
    await form.get_by_label("Sat").check()
    await form.get_by_label("Sun").check()
    await form.get_by_label("Starts at (local)").fill("02:30")
    await form.get_by_label("Lasts (minutes)").fill("90")
    await form.get_by_label("Comment").fill("Weekly vacuum")
    await form.get_by_role("button", name="Add maintenance window").click()
    await expect(page.get_by_role("alert")).to_contain_text("not an IANA time zone")
    form = page.get_by_role("form", name="Add a maintenance window")
    await expect(form.get_by_label("Sat")).to_be_checked()
    await expect(form.get_by_label("Mon")).not_to_be_checked()
    await form.get_by_label("Time zone").fill("Europe/Berlin")
    await form.get_by_role("button", name="Add maintenance window").click()
    await expect(page.get_by_role("status")).to_have_text("The maintenance window was added.")
    rows = page.locator("table.windows tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Sat, Sun 02:30 (Europe/Berlin) for 90 min")
    # Saturday 2026-04-25 02:30 in Berlin (CEST, UTC+2) is 00:30 UTC.
    await expect(rows.first.locator("td").nth(3)).to_contain_text("2026-04-25")
    await expect(rows.first.locator("td").nth(3)).to_contain_text("00:30")

    phone = await alerts_browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    small = await phone.new_page()
    await sign_in(small, alerts_live_url, tenant.writer)
    await small.goto(f"{alerts_live_url}/orgs/{tenant.id}/alerts/")
    await expect(small.get_by_role("form", name="Add a silence")).to_be_visible()
    await expect(small.locator("table.windows")).to_be_visible()
    width = await small.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1
    await phone.close()

    await rows.first.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("status")).to_have_text("The maintenance window was deleted.")
    await expect(page.get_by_text("No maintenance windows.")).to_be_visible()
