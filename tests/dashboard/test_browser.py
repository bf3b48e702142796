"""The dashboard in a real headless Chromium, against a real uvicorn server on a free port."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant
from tests.dashboard.live import sign_in, telemetry
from tests.dashboard.seed import Scenario, push

# Generous: the first test also starts Chromium and a server on a loaded machine.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


async def test_browser__sign_in__cards_show_the_statuses_the_api_reports(
    page: Page, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)

    await expect(page).to_have_url(f"{live_url}/orgs/{tenant.id}/")
    cards = page.locator("li.card")
    await expect(cards).to_have_count(4)
    words = {"active": "Active", "degraded": "Degraded", "error": "Error", "idle": "Idle"}
    seen = []
    for i in range(4):
        card = cards.nth(i)
        connection_id = await card.get_attribute("data-connection-id")
        assert connection_id is not None
        body = await telemetry(live_api, tenant, connection_id)
        await expect(card.locator(".status-word")).to_have_text(words[body["status"]])
        await expect(card.locator('[data-metric="events_last_24h.total"]')).to_have_text(
            f"{body['events_last_24h']['total']:,}"
        )
        seen.append(body["status"])
    assert seen == ["error", "degraded", "idle", "active"]


async def test_browser__connection_page__same_numbers_as_the_telemetry_api_chart_and_errors(
    page: Page, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)
    await page.locator(f'li.card[data-connection-id="{live_scenario.degraded}"] h3 a').click()
    await expect(page).to_have_url(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.degraded}/")
    body = await telemetry(live_api, tenant, live_scenario.degraded)

    await expect(page.locator(".status-panel .status-word")).to_have_text("Degraded")
    for window in ("events_last_24h", "events_last_7d"):
        for key, value in body[window].items():
            await expect(page.locator(f'[data-metric="{window}.{key}"]')).to_have_text(f"{value:,}")
    await expect(page.locator('[data-metric="failed_deliveries_last_24h"]')).to_have_text(
        str(body["failed_deliveries_last_24h"])
    )
    await expect(page.locator('[data-metric="last_delivery_at"]')).to_have_attribute(
        "data-value", body["last_delivery_at"]
    )
    await expect(page.locator("svg.chart g.bar")).to_have_count(168)
    await expect(page.locator("svg.chart g.bar.failing")).to_have_count(2)
    errors = page.locator("li.error-item .error-message")
    await expect(errors).to_have_text([e["message"] for e in body["recent_errors"]])
    await expect(page.locator("table.runs tbody tr")).to_have_count(4)


async def test_browser__wrong_token__message_on_the_form(page: Page, live_url: str, db: Database) -> None:
    await sign_in(page, live_url, "ppt_0123456789ab_not-a-real-secret")

    await expect(page.get_by_role("alert")).to_contain_text("That token was not accepted")
    await expect(page.get_by_label("API token")).to_be_visible()
    assert await page.context.cookies() == []


async def test_browser__refresh__swaps_new_numbers_in_without_reloading(
    page: Page,
    live_url: str,
    live_api: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    live_scenario: Scenario,
    live_clock: FrozenClock,
) -> None:
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.idle}/")
    total = page.locator('[data-metric="events_last_24h.total"]')
    await expect(total).to_have_text("0")
    await page.evaluate("window.stillTheSamePage = true")

    await push(live_api, tenant, service_key, live_scenario.idle, live_clock.now, evaluations=1234)
    assert await page.evaluate("window.pipepulse.refresh()") is True

    await expect(total).to_have_text("1,234")
    await expect(page.locator(".status-panel .status-word")).to_have_text("Active")
    assert await page.evaluate("window.stillTheSamePage") is True


async def test_browser__phone_width__pages_fit_the_screen(
    browser: Browser, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = await context.new_page()
    try:
        await sign_in(phone, live_url, tenant.reader)
        await expect(phone.locator("li.card")).to_have_count(4)
        for path in (f"/orgs/{tenant.id}/", f"/orgs/{tenant.id}/connections/{live_scenario.active}/"):
            await phone.goto(live_url + path)
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, path
    finally:
        await context.close()


async def test_browser__without_javascript__core_content_reads(
    browser: Browser, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    context = await browser.new_context(java_script_enabled=False)
    plain = await context.new_page()
    try:
        await sign_in(plain, live_url, tenant.reader)
        await expect(plain.locator("li.card")).to_have_count(4)
        await plain.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.error}/")
        await expect(plain.locator(".status-panel .status-word")).to_have_text("Error")
        await expect(plain.locator("li.error-item")).to_have_count(3)
        # Times stay in UTC, and the button that would switch them is not offered.
        await expect(plain.locator(".status-since time")).to_have_text("2026-04-20 11:00:00 UTC")
        await expect(plain.locator("#time-toggle")).to_be_hidden()
    finally:
        await context.close()


async def watch_api(api: httpx.AsyncClient, tenant: Tenant, connection_id: str, path: str) -> dict[str, Any]:
    response = await api.get(tenant.connection_url(connection_id) + path, headers=tenant.read)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_browser__connection_page__status_band_incident_and_verdicts_match_the_api(
    page: Page, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.error}/")
    history = await watch_api(live_api, tenant, live_scenario.error, "status-history/")
    health = await watch_api(live_api, tenant, live_scenario.error, "health/")

    segments = page.locator("svg.band rect.band-segment")
    await expect(segments).to_have_count(len(history["intervals"]))
    for i, interval in enumerate(history["intervals"]):
        await expect(segments.nth(i)).to_have_attribute("data-status", interval["status"])
        await expect(segments.nth(i)).to_have_attribute("data-start", interval["start"])
        # The exact times are on hover (the SVG title) and in the list screen readers read.
        assert "UTC" in (await segments.nth(i).locator("title").text_content() or "")
    spoken = page.get_by_role("list", name="Status intervals, exact times").locator("li")
    await expect(spoken).to_have_count(len(history["intervals"]))
    await expect(spoken.last).to_contain_text(history["intervals"][-1]["reason"]["text"])

    await expect(page.locator('[data-metric="since"]')).to_have_attribute("data-value", health["since"])
    incident = page.locator(".open-incident")
    await expect(incident).to_have_attribute("data-started-at", health["open_incident"]["started_at"])
    # SPEC §7.1: the first run of the failing streak that led into it, and since when it failed.
    # The three failures in a row began two hours before the third tipped it into error.
    first = "permission denied for schema analytics"
    await expect(incident.locator('[data-metric="first_error"]')).to_have_text(first)
    assert health["open_incident"]["streak_started_at"] < health["open_incident"]["started_at"]
    await expect(incident.locator(".open-incident-head")).to_contain_text("failing since")
    await expect(incident.locator(".open-incident-head")).to_contain_text("in error since")
    await expect(incident.locator(".open-incident-head")).to_contain_text("3 failing runs")
    await expect(page.locator("table.incidents tbody tr")).to_have_count(len(history["incidents"]))
    await expect(page.locator("table.incidents tbody tr").first).to_have_attribute("data-open", "true")
    # Last delivery 12 hours ago against the default SLA of 2 h 15 min.
    assert health["freshness"]["late"] is True
    await expect(page.locator('[data-metric="freshness"] .kpi-value')).to_have_text("Late by 9 h 45 min")
    await expect(page.locator('[data-metric="volume"]')).to_have_attribute("data-verdict", "insufficient")
    await expect(page.locator('[data-metric="uptime_percent"]')).to_have_attribute(
        "data-value", str(history["uptime_percent"])
    )


async def test_browser__period_control__band_and_chart_follow_the_chosen_period(
    page: Page, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.degraded}/")
    await (
        page.get_by_role("navigation", name="Period of the status history and the chart")
        .get_by_role("link", name="24 h")
        .click()
    )

    await expect(page).to_have_url(
        f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.degraded}/?period=24h"
    )
    await expect(page.locator("svg.chart g.bar")).to_have_count(24)
    await expect(page.locator("#history-title")).to_have_text("Status history, last 24 hours")
    day = await live_api.get(
        tenant.connection_url(live_scenario.degraded) + "status-history/",
        params={"from": "2026-04-19T12:00:00Z"},
        headers=tenant.read,
    )
    statuses = [i["status"] for i in day.json()["intervals"]]
    await expect(page.locator("svg.band rect.band-segment")).to_have_count(len(statuses))
    await page.get_by_role("link", name="30 days").click()
    await expect(page.locator("svg.chart g.bar")).to_have_count(720)


async def test_browser__organisation_cards__late_connection_flagged(
    page: Page, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)

    error_card = page.locator(f'li.card[data-connection-id="{live_scenario.error}"]')
    await expect(error_card.locator('[data-flag="late"]')).to_have_text("Late by 9 h 45 min")
    # Delivered an hour ago: within the default SLA of 2 h 15 min.
    await expect(
        page.locator(f'li.card[data-connection-id="{live_scenario.degraded}"] [data-flag]')
    ).to_have_count(0)
