"""The Streaming Status page shows each objective's remaining budget: a bar and a sentence
that say what the status read says (SPEC §7.6), in Chromium."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import Tenant
from tests.dashboard.live import sign_in
from tests.dashboard.seed import Scenario

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


async def test_streaming_status__objectives__budget_bar_and_sentence_as_the_api_reads_them(
    page: Page, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    url = tenant.connection_url(live_scenario.error) + "objectives/"
    made = await live_api.post(
        url, json={"indicator": "availability", "target_percent": 99, "window_days": 28}, headers=tenant.write
    )
    assert made.status_code == 201, made.text
    objective_id = made.json()["id"]
    status = (await live_api.get(f"{url}{objective_id}/status/", headers=tenant.read)).json()
    runs_out = datetime.fromisoformat(status["exhausted_at"].replace("Z", "+00:00"))
    left = round(status["budget_remaining_percent"])
    assert 0 < left < 100  # the seeded hour of error has spent some of it

    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.error}/")

    item = page.locator(f'[data-objective-id="{objective_id}"]')
    await expect(item.locator(".objective-title")).to_contain_text("Availability 99 % over 28 days")
    await expect(item.locator('[data-metric="budget_sentence"]')).to_have_text(
        f"{left} % of the 28-day budget left; at the last day's rate it runs out on "
        f"{runs_out.day} {runs_out:%b}"
    )
    bar = item.get_by_role("meter", name="Budget left for Availability 99 % over 28 days")
    assert float(await bar.get_attribute("value") or "nan") == pytest.approx(
        status["budget_remaining_percent"], abs=0.01
    )
    await expect(item.locator('[data-burn="24h"]')).to_have_text(f"24h {status['burn_rates']['24h']:.2f}")


async def test_streaming_status__organisation_default__shown_on_every_connection_without_its_own(
    page: Page, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    made = await live_api.post(
        f"/api/v1/organisations/{tenant.id}/objectives/",
        json={"indicator": "freshness", "target_percent": 95, "window_days": 7},
        headers=tenant.write,
    )
    assert made.status_code == 201, made.text

    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.active}/")

    item = page.locator(f'[data-objective-id="{made.json()["id"]}"]')
    await expect(item.locator(".objective-title")).to_contain_text("Freshness 95 % over 7 days")
    await expect(item.locator(".objective-title")).to_contain_text("the organisation's default")
    await expect(item.locator('[data-metric="budget_sentence"]')).to_contain_text("7-day budget")


async def test_organisation_page__objectives__each_card_shows_its_budget_sentence(
    page: Page, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    url = tenant.connection_url(live_scenario.error) + "objectives/"
    made = await live_api.post(
        url, json={"indicator": "availability", "target_percent": 99, "window_days": 28}, headers=tenant.write
    )
    assert made.status_code == 201, made.text
    status = (await live_api.get(f"{url}{made.json()['id']}/status/", headers=tenant.read)).json()
    runs_out = datetime.fromisoformat(status["exhausted_at"].replace("Z", "+00:00"))

    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/")

    card = page.locator(f'.card[data-connection-id="{live_scenario.error}"]')
    budget = card.locator(f'[data-objective-id="{made.json()["id"]}"]')
    await expect(budget.locator('[data-metric="budget_sentence"]')).to_have_text(
        f"Availability 99 % over 28 days: {round(status['budget_remaining_percent'])} % of the 28-day budget "
        f"left; at the last day's rate it runs out on {runs_out.day} {runs_out:%b}"
    )
    await expect(budget.get_by_role("meter")).to_be_visible()
    # A connection without objectives shows no budget.
    await expect(
        page.locator(f'.card[data-connection-id="{live_scenario.active}"] .card-budget')
    ).to_have_count(0)
