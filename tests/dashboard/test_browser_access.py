"""Keyboard, screen reader and sight: focus kept through refreshes, status changes spoken,
contrast as computed by the browser, error pages that keep their bearings, times in UTC or
the reader's own zone."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import FrozenClock, Tenant
from tests.dashboard.contrast import RGB, contrast, parse_colour
from tests.dashboard.live import sign_in
from tests.dashboard.seed import Scenario, push

# Generous: the first browser test of a run also starts Chromium and a server.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# The colour an element sits on: its own background, or the nearest ancestor's that is opaque.
BACKDROP = """
(el, own) => {
  for (let n = own ? el : el.parentElement; n; n = n.parentElement) {
    const bg = getComputedStyle(n).backgroundColor;
    if (bg && bg !== 'transparent' && !bg.startsWith('rgba(0, 0, 0, 0)')) return bg;
  }
  return 'rgb(255, 255, 255)';
}
"""


async def test_refresh__keyboard_focus_on_a_link__still_on_that_link_after(
    page: Page, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.degraded}/")
    await page.get_by_role("link", name="24 h").focus()
    await page.keyboard.press("Tab")  # on to "7 days", by keyboard
    before = await page.evaluate(
        "[document.activeElement.textContent, document.activeElement.getAttribute('href')]"
    )
    assert before[0] == "7 days"

    assert await page.evaluate("window.pipepulse.refresh()") is True

    after = await page.evaluate(
        "[document.activeElement.textContent, document.activeElement.getAttribute('href')]"
    )
    assert after == before
    assert await page.evaluate("document.getElementById('live').contains(document.activeElement)")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "30 days"


async def test_refresh__status_changes__said_in_a_polite_live_region(
    page: Page,
    live_url: str,
    live_api: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    live_scenario: Scenario,
    live_clock: FrozenClock,
) -> None:
    await sign_in(page, live_url, tenant.reader)
    announcer = page.locator("#announcer")
    await expect(announcer).to_have_attribute("aria-live", "polite")
    await expect(announcer).to_have_attribute("aria-atomic", "true")

    await push(live_api, tenant, service_key, live_scenario.idle, live_clock.now, evaluations=12)
    assert await page.evaluate("window.pipepulse.refresh()") is True
    await expect(announcer).to_have_text("Sandbox is now Active (was Idle).")

    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.degraded}/")
    for minutes in (3, 2, 1):
        await push(
            live_api, tenant, service_key, live_scenario.degraded, live_clock.now, error=f"down {minutes}"
        )
    assert await page.evaluate("window.pipepulse.refresh()") is True
    await expect(announcer).to_have_text("Events lake is now Error (was Degraded).")


async def colours(page: Page, selector: str, prop: str, *, own: bool) -> tuple[RGB, RGB]:
    element = page.locator(selector).first
    fore = parse_colour(await element.evaluate(f"e => getComputedStyle(e).{prop}"))
    back = parse_colour(await element.evaluate(BACKDROP, own))
    assert fore is not None
    assert back is not None
    return fore, back


async def test_contrast__focus_ring_and_status_badges__wcag_aa_as_the_browser_draws_them(
    page: Page, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)

    # The ring of a keyboard-focused link, on the page and on the dark top bar: 3:1 or more.
    await page.locator("li.card h3 a").first.focus()
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Tab")
    ring, backdrop = await colours(page, "li.card h3 a:focus-visible", "outlineColor", own=False)
    assert contrast(ring, backdrop) >= 3
    await page.locator(".brand").focus()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Shift+Tab")
    ring, backdrop = await colours(page, ".brand:focus-visible", "outlineColor", own=False)
    assert contrast(ring, backdrop) >= 3

    # Every status badge's word against its own tint: 4.5:1 or more ("Active" was 4.49).
    for status in ("active", "degraded", "error", "idle"):
        text, tint = await colours(page, f".status-{status}", "color", own=True)
        assert contrast(text, tint) >= 4.5, status
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.degraded}/")
    for selector in (".band-active", ".band-idle", ".band-degraded", ".band-error"):
        fill = parse_colour(await page.locator(selector).first.evaluate("e => getComputedStyle(e).fill"))
        assert fill is not None, selector
        assert contrast(fill, (255, 255, 255)) >= 3, selector


async def test_error_pages__signed_in__keep_the_header_and_say_which_values_to_use(
    page: Page, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)

    missing = await page.goto(f"{live_url}/orgs/{tenant.id}/connections/wc_doesnotexist/")
    assert missing is not None
    assert missing.status == 404
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    for query, code, words in (
        ("?status=ERROR", 400, "The value status=ERROR is not one this page accepts"),
        ("?days=5", 400, "The value days=5 is not one this page accepts (1, 7, 30, 90)."),
    ):
        answer = await page.goto(f"{live_url}/orgs/{tenant.id}/{query}")
        assert answer is not None
        assert answer.status == code, query
        await expect(page.locator("#error-title")).to_have_text("Check the address")
        await expect(page.locator(".error-message-text")).to_contain_text(words)
        await expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    await page.get_by_role("navigation", name="Instead").get_by_role("link", name="7 days").click()
    await expect(page).to_have_url(f"{live_url}/orgs/{tenant.id}/?days=7")
    await page.goto(f"{live_url}/orgs/{tenant.id}/?status=ERROR")
    await page.get_by_role("navigation", name="Instead").get_by_role("link", name="Error").click()
    await expect(page).to_have_url(f"{live_url}/orgs/{tenant.id}/?status=error")
    await expect(page.locator("li.card")).to_have_count(1)


async def test_times__utc_marked_and_local_time_chosen__remembered_across_pages(
    browser: Browser, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    context = await browser.new_context(timezone_id="Asia/Kolkata", locale="en-US")
    page = await context.new_page()
    try:
        await sign_in(page, live_url, tenant.reader)
        await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.error}/")
        since = page.locator(".status-since time")
        await expect(since).to_have_text("2026-04-20 11:00:00 UTC")
        started = await page.locator("table.runs time").all_text_contents()
        assert started
        assert all(t.endswith(" UTC") for t in started)

        toggle = page.get_by_role("button", name="Local time")
        await expect(toggle).to_have_attribute("aria-pressed", "false")
        await toggle.click()
        await expect(toggle).to_have_attribute("aria-pressed", "true")
        await expect(since).to_have_text(re.compile(r"^2026-04-20 16:30:00 (GMT\+5:30|IST)$"))

        await page.reload()
        await expect(since).to_have_text(re.compile(r"^2026-04-20 16:30:00 (GMT\+5:30|IST)$"))
        assert await page.evaluate("window.pipepulse.refresh()") is True
        await expect(since).to_have_text(re.compile(r"^2026-04-20 16:30:00 (GMT\+5:30|IST)$"))

        await page.get_by_role("button", name="Local time").click()
        await expect(since).to_have_text("2026-04-20 11:00:00 UTC")
    finally:
        await context.close()
