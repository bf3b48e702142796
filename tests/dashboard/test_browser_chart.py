"""The hourly chart: round ticks, whole labels, the current hour marked as in progress, a table
for keyboards and screen readers, and a range of days to look at."""

from __future__ import annotations

import math
import re
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import FrozenClock, Tenant
from tests.dashboard.live import sign_in
from tests.dashboard.seed import Scenario, push

# Generous: the first browser test of a run also starts Chromium and a server.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

UNITS = {"k": 1e3, "M": 1e6, "B": 1e9}


def tick_value(label: str) -> float:
    return float(label[:-1]) * UNITS[label[-1]] if label[-1] in UNITS else float(label)


async def test_chart__axis__round_ticks_up_to_just_above_the_data_and_every_day_label_whole(
    page: Page,
    live_url: str,
    live_api: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    live_scenario: Scenario,
    live_clock: FrozenClock,
) -> None:
    # An hour of 3,400 events, the case that drew ticks at 1.2k and 3.8k up to 5k.
    await push(
        live_api,
        tenant,
        service_key,
        live_scenario.active,
        live_clock.now - timedelta(hours=30),
        untyped=3400,
    )
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.active}/")

    chart = page.locator("svg.chart")
    texts = await chart.locator("text").evaluate_all(
        """ts => ts.map(t => { const b = t.getBBox();
            return [t.textContent, +t.getAttribute('x'), +t.getAttribute('y'), b.x, b.x + b.width]; })"""
    )
    plot_left = 52  # y labels stand left of the plot, day labels under it
    labels = [text for text, x, _y, _l, _r in texts if x < plot_left]
    ticks = [tick_value(label) for label in labels]
    assert labels == ["0", "1k", "2k", "3k", "4k"]
    step = ticks[1] - ticks[0]
    assert step / 10 ** math.floor(math.log10(step)) in (1, 2, 2.5, 5)
    tallest = max(await page.locator("svg.chart g.bar").evaluate_all("gs => gs.map(g => +g.dataset.total)"))
    assert ticks[-2] < tallest <= ticks[-1]

    # Every day label lies whole inside the drawing, the last one too.
    width = await chart.evaluate("svg => svg.viewBox.baseVal.width")
    boxes = [(text, left, right) for text, x, y, left, right in texts if x >= plot_left and y > 200]
    assert len(boxes) >= 7
    for text, left, right in boxes:
        assert left >= 0, text
        assert right <= width, text
    assert boxes[-1][0] == "Mon 20 Apr"


async def test_chart__current_hour__marked_in_progress_not_a_drop(
    page: Page, live_url: str, tenant: Tenant, live_scenario: Scenario, live_clock: FrozenClock
) -> None:
    live_clock.now += timedelta(minutes=20)
    try:
        await sign_in(page, live_url, tenant.reader)
        await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.degraded}/?period=24h")

        current = page.locator("svg.chart g.bar").last
        await expect(current).to_have_attribute("data-partial", "true")
        await expect(current).to_have_attribute("data-hour", "2026-04-20T12:00:00Z")
        assert "(in progress: 20 of 60 minutes so far)" in (
            await current.locator("title").text_content() or ""
        )
        await expect(current.locator("rect.partial-band")).to_have_count(1)
        await expect(page.locator("svg.chart text.partial-label")).to_have_text("now: 20 of 60 min")
        await expect(page.locator('.legend [data-legend="partial"]')).to_have_text(
            "Current hour, still in progress"
        )
        await expect(page.locator("svg.chart g.bar.partial")).to_have_count(1)
    finally:
        live_clock.now -= timedelta(minutes=20)


async def test_chart__as_a_table__reached_and_opened_by_keyboard(
    page: Page, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.degraded}/")
    await page.locator("#chart-title").scroll_into_view_if_needed()
    # Start from the last control before the chart and go on with the keyboard only.
    await page.get_by_role("button", name="Show days").focus()
    summary = page.locator("#chart-table summary")
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await summary.evaluate("s => s === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the chart's table")
    await page.keyboard.press("Enter")

    table = page.locator("#chart-table table")
    await expect(table).to_be_visible()
    bars = await page.locator("svg.chart g.bar").evaluate_all(
        "gs => gs.filter(g => +g.dataset.total).map(g => [g.dataset.hour, g.dataset.total])"
    )
    rows = await table.locator("tbody tr").evaluate_all(
        "rs => rs.filter(r => +r.dataset.total).map(r => [r.dataset.hour, r.dataset.total])"
    )
    assert rows == bars
    await expect(table.locator("caption")).to_contain_text("UTC hour")

    # A refresh keeps the table open.
    assert await page.evaluate("window.pipepulse.refresh()") is True
    await expect(table).to_be_visible()


async def test_chart__range_of_days__chart_and_history_show_those_days(
    page: Page, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.active}/")
    form = page.get_by_role("form", name="Days of the status history and the chart")
    await form.get_by_label("From").fill("2026-04-15")
    await form.get_by_label("to").fill("2026-04-16")
    await form.get_by_role("button", name="Show days").click()

    await expect(page).to_have_url(re.compile(r"\?from=2026-04-15&to=2026-04-16$"))
    await expect(page.locator("#chart-title")).to_have_text(
        "Events delivered per hour, 15\N{EN DASH}16 Apr 2026"
    )
    bars = page.locator("svg.chart g.bar")
    await expect(bars).to_have_count(48)
    await expect(bars.first).to_have_attribute("data-hour", "2026-04-15T00:00:00Z")
    await expect(bars.last).to_have_attribute("data-hour", "2026-04-16T23:00:00Z")
    await expect(page.locator("#history-title")).to_have_text("Status history, 15\N{EN DASH}16 Apr 2026")
    await expect(page.locator("svg.chart g.bar.partial")).to_have_count(0)
