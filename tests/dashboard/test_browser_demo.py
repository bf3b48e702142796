"""The demo, watched in a browser: at 0 and 60 simulated minutes the dashboard tells the
designed story (one healthy connection without anomaly flags, Marketing Degraded, the broken
warehouse in Error, the paused one Idle)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from pipepulse.config import Settings
from pipepulse.db.engine import create_engine
from pipepulse.db.migrate import ensure_schema
from pipepulse.db.session import Database
from pipepulse.demo import LiveFeed, build_history, demo_settings, step
from pipepulse.local_loader import LocalDispatcher
from tests.conftest import FrozenClock
from tests.dashboard.live import NOW, LiveServer, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

STORY = {
    "Analytics warehouse": "active",
    "Marketing events": "degraded",
    "Finance replica": "error",
    "Legacy exports": "idle",
}


async def _story_on_screen(page: Page, url: str) -> None:
    await page.goto(url)
    for name, status in STORY.items():
        card = page.locator(f'li.card[data-name="{name}"]')
        await expect(card).to_have_attribute("data-status", status)
    healthy = page.locator('li.card[data-name="Analytics warehouse"]')
    await expect(healthy.locator(".flag")).to_have_count(0)
    broken = page.locator('li.card[data-name="Finance replica"]')
    await expect(broken.locator('[data-flag="late"]')).to_be_visible()


@pytest.fixture
async def demo_page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield await context.new_page()
    await context.close()


async def test_demo__watched_for_an_hour__the_dashboard_keeps_the_story(
    demo_page: Page, browser: Browser, settings: Settings, tmp_path: Path
) -> None:
    # The demo's own database (embedded SQLite, as `pipepulse demo` runs it) and clock.
    clock = FrozenClock(NOW)
    demo = demo_settings(settings, tmp_path, public_url="http://127.0.0.1:8000")
    assert demo.loader_source_root is not None
    db = Database(create_engine(demo.resolved_database_url))
    await ensure_schema(db, auto_migrate=True)
    handles = await build_history(db, clock.now)
    dispatcher = LocalDispatcher(db, demo, clock)
    feed = LiveFeed(demo.loader_source_root)
    server = LiveServer(demo, clock)
    server.start()
    try:
        url = f"{server.url}/orgs/{handles.organisation_id}/"
        await step(db, demo, dispatcher, feed, clock.now)
        await sign_in(demo_page, server.url, handles.token)
        await _story_on_screen(demo_page, url)
        for _ in range(12):
            clock.advance(minutes=5)
            await step(db, demo, dispatcher, feed, clock.now)
        await _story_on_screen(demo_page, url)

        # The demo on a phone: no page wider than 390 px.
        phone_context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        try:
            phone = await phone_context.new_page()
            await sign_in(phone, server.url, handles.token)
            paths = [
                f"/orgs/{handles.organisation_id}/",
                f"/orgs/{handles.organisation_id}/alerts/",
                *(
                    f"/orgs/{handles.organisation_id}/connections/{cid}/"
                    for cid in handles.connection_ids.values()
                ),
            ]
            widths = {}
            for path in paths:
                await phone.goto(server.url + path)
                widths[path] = await phone.evaluate("document.documentElement.scrollWidth")
            assert {p: w for p, w in widths.items() if w > 390} == {}, widths
        finally:
            await phone_context.close()
    finally:
        server.stop()
        await dispatcher.close()
        await db.dispose()
