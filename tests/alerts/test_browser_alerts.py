"""The Alerts page in a real headless Chromium against a real server and a real receiver."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.wire.webhook_signature import verify
from tests.alerts.receiver import Receiver
from tests.conftest import FrozenClock, Tenant

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
NOW = datetime(2026, 4, 20, 12, 0, 0, tzinfo=UTC)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def alerts_live_url(settings: Settings, migrated_db: Database) -> Iterator[str]:
    """The app, allowing loopback receivers, served by uvicorn in a thread of its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    live = settings.model_copy(update={"alerts_allow_private_urls": True})
    app = create_app(live, clock=FrozenClock(NOW))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="alerts-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    # Only a developer machine may lack the browser; on CI a missing Chromium is a failure.
    if not CHROMIUM.exists() and os.environ.get("CI") != "true":
        pytest.skip("/usr/bin/chromium is not installed (scripts/setup installs it)")
    return CHROMIUM


@pytest.fixture(scope="module")
async def alerts_browser(chromium_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(alerts_browser: Browser) -> AsyncIterator[Page]:
    context = await alerts_browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    opened = await context.new_page()
    yield opened
    await context.close()


async def sign_in(page: Page, live_url: str, token: str) -> None:
    await page.goto(live_url + "/")
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def test_browser__alerts_page__add_channel_test_it_add_and_delete_rule_delete_channel(
    page: Page, alerts_live_url: str, tenant: Tenant, receiver: Receiver
) -> None:
    await sign_in(page, alerts_live_url, tenant.writer)
    await page.get_by_role("link", name="Alerts").click()
    await expect(page).to_have_url(f"{alerts_live_url}/orgs/{tenant.id}/alerts/")
    await expect(page.get_by_text("No channels yet.")).to_be_visible()

    form = page.get_by_role("form", name="Add a channel")
    await form.get_by_label("Name").fill("On-call webhook")
    await form.get_by_label("URL").fill(receiver.url)
    await form.get_by_role("button", name="Add channel").click()
    secret = await page.locator("[data-secret]").inner_text()
    assert secret.startswith("whsec_")
    row = page.locator("table.channels tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.locator("code")).to_have_text(f"http://127.0.0.1:{receiver.port}/…")

    await row.get_by_role("button", name="Send test").click()
    await expect(page.get_by_role("status")).to_contain_text("Test delivered to “On-call webhook” (HTTP 204)")
    await expect(page.locator("[data-secret]")).to_have_count(0)
    log = page.locator("table.notification-log tbody tr")
    await expect(log).to_have_count(1)
    await expect(log.first).to_have_attribute("data-state", "delivered")
    [delivery] = receiver.received()
    assert verify(delivery.body, delivery.signature, secret, now=delivery.signed_at)["type"] == "test"

    rules = page.get_by_role("form", name="Add a rule")
    await rules.get_by_label("Status becomes Error").check()
    await rules.get_by_label("Recovered (Active again after Error or Degraded)").check()
    await rules.get_by_role("button", name="Add rule").click()
    await expect(page.get_by_role("status")).to_have_text("The rule was added.")
    rule_rows = page.locator("table.rules tbody tr")
    await expect(rule_rows).to_have_count(1)
    await expect(rule_rows.locator(".chip")).to_have_text(["status:error", "recovered"])

    await rule_rows.get_by_role("button", name="Delete rule 1").click()
    await expect(page.get_by_role("status")).to_have_text("The rule was deleted.")
    await expect(page.get_by_text("No rules yet: nothing is sent.")).to_be_visible()
    await page.get_by_role("button", name="Delete channel On-call webhook").click()
    await expect(page.get_by_text("No channels yet.")).to_be_visible()


async def test_browser__alerts_page__reader_sees_the_log_but_no_forms(
    page: Page, alerts_live_url: str, tenant: Tenant
) -> None:
    await sign_in(page, alerts_live_url, tenant.reader)
    await page.goto(f"{alerts_live_url}/orgs/{tenant.id}/alerts/")
    await expect(page.get_by_role("heading", name="Delivery log")).to_be_visible()
    await expect(page.get_by_text("lacks write:alerts")).to_be_visible()
    await expect(page.locator("form[aria-label]")).to_have_count(0)
    await expect(page.get_by_role("button", name="Send test")).to_have_count(0)


async def test_browser__alerts_page__each_kind_shows_its_own_field_and_is_created(
    page: Page, alerts_live_url: str, tenant: Tenant, receiver: Receiver
) -> None:
    await sign_in(page, alerts_live_url, tenant.writer)
    await page.goto(f"{alerts_live_url}/orgs/{tenant.id}/alerts/")
    form = page.get_by_role("form", name="Add a channel")
    url, key, to = form.get_by_label("URL"), form.get_by_label("Routing key"), form.get_by_label("Send to")
    kind = form.get_by_label("Kind")
    await expect(url).to_be_visible()
    await expect(key).to_be_hidden()
    await expect(to).to_be_hidden()

    await kind.select_option(label="PagerDuty (Events API v2)")
    await expect(url).to_be_hidden()
    await expect(key).to_be_visible()
    await form.get_by_label("Name").fill("Pager")
    await key.fill("R0123456789abcdefABCDEF")
    await form.get_by_role("button", name="Add channel").click()
    await expect(page.get_by_role("status")).to_contain_text("Channel “Pager” added.")

    await kind.select_option(label="Email")
    await expect(to).to_be_visible()
    await expect(url).to_be_hidden()
    await form.get_by_label("Name").fill("Data team")
    await to.fill("oncall@example.com, data-team@example.com")
    await form.get_by_role("button", name="Add channel").click()
    await expect(page.get_by_role("status")).to_contain_text("Channel “Data team” added.")

    for label, name in (("Microsoft Teams (Workflows webhook)", "Teams"), ("Prometheus Alertmanager", "AM")):
        await kind.select_option(label=label)
        await expect(url).to_be_visible()
        await expect(key).to_be_hidden()
        await form.get_by_label("Name").fill(name)
        await url.fill(receiver.url)
        await form.get_by_role("button", name="Add channel").click()
        await expect(page.get_by_role("status")).to_contain_text(f"Channel “{name}” added.")

    rows = page.locator("table.channels tbody tr")
    await expect(rows).to_have_count(4)

    def row(name: str) -> Locator:
        return rows.filter(has=page.get_by_role("rowheader", name=name, exact=True))

    for name, shown in (
        ("Pager", "PagerDuty"),
        ("Data team", "Email"),
        ("Teams", "Microsoft Teams"),
        ("AM", "Alertmanager"),
    ):
        await expect(row(name).locator("td").first).to_have_text(shown)
    await expect(row("Pager")).not_to_contain_text("R0123456789abcdefABCDEF")  # write-only
    await expect(row("Data team")).to_contain_text("oncall@example.com, data-team@example.com")
    await expect(row("Teams").locator("code")).to_have_text(f"http://127.0.0.1:{receiver.port}/…")

    # The server still says what a kind is missing.
    await kind.select_option(label="Email")
    await form.get_by_label("Name").fill("Nobody")
    await form.get_by_role("button", name="Add channel").click()
    await expect(page.get_by_role("alert")).to_contain_text("a email channel needs 'to'")
