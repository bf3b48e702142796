"""On a phone (390 px): the newest hours, the error of a failing run and the first problem are
on screen without hunting for them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.conftest import Tenant
from tests.dashboard.live import sign_in
from tests.dashboard.seed import Scenario

# Generous: the first browser test of a run also starts Chromium and a server.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    context.set_default_timeout(10_000)
    yield await context.new_page()
    await context.close()


async def test_phone__streaming_status__chart_opens_at_the_newest_hours_and_runs_keep_the_error(
    phone: Page, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(phone, live_url, tenant.reader)
    await phone.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.error}/")

    scroller = phone.locator(".chart-scroll:has(svg.chart)")
    geometry = await scroller.evaluate("s => [s.scrollLeft, s.scrollWidth, s.clientWidth]")
    left, width, visible = geometry
    assert width > visible  # the week is wider than the phone ...
    assert left >= width - visible - 1  # ... and it opens at the newest end
    newest = phone.locator("svg.chart g.bar").last
    await newest.scroll_into_view_if_needed()
    box = await phone.locator("svg.chart g.bar.failing").last.bounding_box()
    assert box is not None
    assert 0 <= box["x"] <= PHONE["width"]

    failing = phone.locator('table.runs tbody tr[data-outcome="failed"]').first
    error = failing.locator("td.message")
    await error.scroll_into_view_if_needed()
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("boom")
    cell = await error.bounding_box()
    assert cell is not None
    assert cell["x"] >= 0
    assert cell["x"] + cell["width"] <= PHONE["width"]
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def test_phone__organisation__first_problem_card_above_the_fold(
    phone: Page, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(phone, live_url, tenant.reader)
    await expect(phone).to_have_url(f"{live_url}/orgs/{tenant.id}/")

    first = phone.locator("li.card").first
    await expect(first).to_have_attribute("data-status", "error")
    await expect(first).to_be_in_viewport(ratio=1)
    # The health summary is still there, above it, in brief.
    await expect(phone.locator('[data-metric="success_rate"]')).to_be_in_viewport()
    assert await phone.evaluate("window.scrollY") == 0


async def test_phone__every_page__no_wider_than_the_phone(
    browser: Browser, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    """At 390 px no page scrolls sideways: every page, signed in with the rights that show the
    most (the Actions columns of the Alerts page), and the sign-in page."""
    channel = await live_api.post(
        f"/api/v1/organisations/{tenant.id}/alert-channels/",
        json={"name": "On-call", "kind": "webhook", "url": "https://93.184.216.34/pipepulse"},
        headers=tenant.write,
    )
    assert channel.status_code == 201, channel.text
    rule = await live_api.post(
        f"/api/v1/organisations/{tenant.id}/alert-rules/",
        json={"channel_id": channel.json()["id"], "events": ["status:error", "recovered", "late"]},
        headers=tenant.write,
    )
    assert rule.status_code == 201, rule.text
    runs = await live_api.get(tenant.connection_url(live_scenario.error) + "metrics/", headers=tenant.read)
    run_id = runs.json()["items"][0]["id"]
    org = f"/orgs/{tenant.id}"
    pages = [
        "/orgs/",
        f"{org}/",
        *(f"{org}/connections/{cid}/" for cid in live_scenario.ids.values()),
        f"{org}/connections/{live_scenario.error}/runs/{run_id}/",
        f"{org}/alerts/",
    ]
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    context.set_default_timeout(10_000)
    try:
        phone = await context.new_page()
        await phone.goto(live_url + "/")
        signed_out = await phone.evaluate("document.documentElement.scrollWidth")
        await sign_in(phone, live_url, tenant.writer)
        widths = {"/ (sign-in)": signed_out}
        for path in pages:
            await phone.goto(live_url + path)
            widths[path] = await phone.evaluate("document.documentElement.scrollWidth")
        too_wide = {path: width for path, width in widths.items() if width > PHONE["width"]}
        assert too_wide == {}, too_wide
        # Chart axis labels stay readable on a phone: at least 10 CSS px.
        await phone.goto(f"{live_url}{org}/connections/{live_scenario.error}/")
        sizes = await phone.eval_on_selector_all(
            "svg.chart text.axis, svg.band text.axis", "ts => ts.map(t => t.getBoundingClientRect().height)"
        )
        assert sizes
        assert min(sizes) >= 10, sizes
        # The incidents table fits: each incident reads as a block, nothing cut off.
        wrap = phone.locator("table.incidents").locator("xpath=..")
        if await wrap.count():
            assert await wrap.evaluate("w => w.scrollWidth <= w.clientWidth")
    finally:
        await context.close()
