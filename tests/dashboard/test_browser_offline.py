"""A server that goes away under an open page: the page says so, and comes back by itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, expect

from pipepulse.config import Settings
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant
from tests.dashboard.live import LiveServer, sign_in
from tests.dashboard.seed import Scenario

# Generous: the first browser test of a run also starts Chromium and a server.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture
def own_server(settings: Settings, migrated_db: Database, live_clock: FrozenClock) -> Iterator[LiveServer]:
    """A server of this test's own, which it may stop and start again."""
    server = LiveServer(settings, live_clock)
    server.start()
    yield server
    server.stop()


async def test_offline__server_stops__banner_greys_the_page_links_wait_and_it_recovers(
    browser: Browser, own_server: LiveServer, tenant: Tenant, live_scenario: Scenario
) -> None:
    context = await browser.new_context(viewport={"width": 1366, "height": 800})
    page = await context.new_page()
    try:
        await sign_in(page, own_server.url, tenant.reader)
        url = f"{own_server.url}/orgs/{tenant.id}/connections/{live_scenario.error}/"
        await page.goto(url)
        banner = page.locator("#offline-banner")
        await expect(banner).to_be_hidden()

        own_server.stop()
        assert await page.evaluate("window.pipepulse.refresh()") is False

        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("Cannot reach the pipepulse server since")
        await expect(banner).to_contain_text("UTC")
        await expect(page.locator("#live")).to_have_class("live is-stale")
        assert (
            await page.evaluate("getComputedStyle(document.getElementById('live')).filter") == "grayscale(1)"
        )
        # The last numbers stay on screen, marked as possibly out of date.
        await expect(page.locator(".status-panel .status-word")).to_have_text("Error")

        # A link does not lead to the browser's error page: the page stays and says why.
        await page.locator(".crumbs a").first.click()
        await expect(page.locator("#announcer")).to_contain_text(
            "cannot open while the server is unreachable"
        )
        assert page.url == url
        await expect(page.locator("h1")).to_have_text("Finance replica")

        own_server.start()  # the same port: the page finds it again on its own
        await expect(banner).to_be_hidden(timeout=15_000)
        await expect(page.locator("#live")).to_have_class("live")
        await expect(page.locator("#announcer")).to_contain_text("Back online")
        await page.locator(".crumbs a").first.click()
        await expect(page).to_have_url(f"{own_server.url}/orgs/{tenant.id}/")
    finally:
        await context.close()
