"""Why, since when and what to do, at a glance: the status banner, a run's own page, a paused
connection, the connection state beside the status, and the words the pages use."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from playwright.async_api import Page, expect

from pipepulse.dashboard.advice import HINTS
from tests.conftest import FrozenClock, Tenant
from tests.dashboard.live import sign_in, telemetry
from tests.dashboard.seed import Scenario, push

# Generous: the first browser test of a run also starts Chromium and a server.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


async def set_state(api: httpx.AsyncClient, tenant: Tenant, connection_id: str, state: str) -> None:
    response = await api.patch(
        tenant.connection_url(connection_id), json={"state": state}, headers=tenant.write
    )
    assert response.status_code == 200, response.text


async def test_status_banner__failing_connection__says_why_since_when_and_what_to_do(
    page: Page, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.error}/")
    body = await telemetry(live_api, tenant, live_scenario.error)
    latest = body["recent_errors"][0]
    banner = page.locator(".status-panel")

    # All of it on the first screen, without scrolling.
    await expect(banner).to_be_in_viewport(ratio=1)
    await expect(banner.locator(".status-reason")).to_have_text("The last 3 finished runs were all failing.")
    await expect(banner.locator(".status-why-message")).to_have_text(latest["message"])
    await expect(banner.locator('[data-metric="latest_error"]')).to_have_attribute(
        "data-run-id", latest["run_id"]
    )
    await expect(banner.locator(".status-since")).to_contain_text("Error since 2026-04-20 11:00:00 UTC (1 h)")
    await expect(banner.locator(".status-hint")).to_contain_text(HINTS["latest_runs_failing"])

    await banner.get_by_role("link", name="Open the latest failing run").click()
    await expect(page).to_have_url(
        f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.error}/runs/{latest['run_id']}/"
    )
    await expect(page.locator('[data-field="id"]')).to_have_text(latest["run_id"])
    await expect(page.locator('[data-field="outcome"]')).to_have_text("failed")
    await expect(page.locator('[data-field="error"]')).to_have_text("boom")
    await expect(page.locator('[data-metric="explanation"]')).to_contain_text("Completed with an error")
    for field in (
        "started_at",
        "completed_at",
        "finished_at",
        "duration_ms",
        "latency_ms",
        "events_delivered",
    ):
        await expect(page.locator(f'[data-field="{field}"]')).to_be_visible()

    await page.get_by_role("link", name="Back to the runs of Finance replica").click()
    row = page.locator(f"#run-{latest['run_id']}")
    await expect(row).to_be_in_viewport()
    assert await row.evaluate("r => r.matches(':target')")


async def test_run_page__api_fields__every_one_shown(
    page: Page, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    runs = await live_api.get(tenant.connection_url(live_scenario.degraded) + "metrics/", headers=tenant.read)
    partial = next(r for r in runs.json()["items"] if r["outcome"] == "partial")
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.degraded}/runs/{partial['id']}/")

    shown = await page.locator("[data-field]").evaluate_all("nodes => nodes.map(n => n.dataset.field)")
    assert set(partial) - {"message"} <= set(shown)
    await expect(page.locator('[data-field="batches_dlq"]')).to_have_text("2")
    await expect(page.locator('[data-metric="explanation"]')).to_contain_text(
        "2 batches moved to the dead-letter queue: the events in them were not delivered"
    )


async def test_paused_connection__card_and_banner__look_paused_not_idle(
    page: Page, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    await set_state(live_api, tenant, live_scenario.idle, "paused")
    await sign_in(page, live_url, tenant.reader)

    card = page.locator(f'li.card[data-connection-id="{live_scenario.idle}"]')
    await expect(card.locator(".card-badges .state-paused")).to_have_text("Paused")
    await expect(card.locator(".card-reason")).to_have_text(
        "Paused: no runs are scheduled. Nothing delivered yet: no run has finished."
    )
    assert await card.evaluate("c => getComputedStyle(c).borderTopStyle") == "dashed"

    await card.locator("h3 a").click()
    head = page.locator(".status-panel .status-head")
    await expect(head.locator(".state-paused")).to_have_text("Paused")
    await expect(head).to_contain_text("Connection state")
    await expect(page.locator(".status-hint")).to_contain_text(HINTS["paused"])
    # The pause comes first, larger than the status it leaves unchanged.
    paused_box = await head.locator(".state-paused").bounding_box()
    status_box = await head.locator(".status").bounding_box()
    assert paused_box is not None
    assert status_box is not None
    assert paused_box["y"] < status_box["y"]
    assert paused_box["height"] >= status_box["height"]


async def test_connection_state__error_state_and_error_status__each_labelled(
    page: Page, live_url: str, live_api: httpx.AsyncClient, tenant: Tenant, live_scenario: Scenario
) -> None:
    await set_state(live_api, tenant, live_scenario.error, "error")
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.error}/")

    state = page.locator('[data-metric="connection_state"]')
    await expect(state.locator("dt")).to_have_text("Connection state")
    await expect(state.locator("dd")).to_have_text("Error")
    head = page.locator(".status-panel .status-head")
    await expect(head.locator(".status-label")).to_have_text("Status")
    await expect(head.locator(".status-word")).to_have_text("Error")
    card_state = page.locator(".card-state")
    await page.goto(f"{live_url}/orgs/{tenant.id}/")
    await expect(
        page.locator(f'li.card[data-connection-id="{live_scenario.error}"]').locator(card_state)
    ).to_have_text("Connection state: Error")


async def test_copy__degraded_health_and_failures__plain_words_figures_apart(
    page: Page,
    live_url: str,
    live_api: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    live_scenario: Scenario,
    live_clock: FrozenClock,
) -> None:
    # Degraded with the latest run failing: failed at -6 h, partial (2 batches) at -4 h, failed now.
    await push(
        live_api,
        tenant,
        service_key,
        live_scenario.degraded,
        live_clock.now - timedelta(minutes=10),
        error="x",
    )
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.degraded}/")
    body = await telemetry(live_api, tenant, live_scenario.degraded)

    reason = page.locator(".status-reason")
    await expect(reason).to_have_text(
        "3 runs of 5 that finished in the last 24 hours were failing; "
        "the latest run failed, but 1 of the last 3 succeeded."
    )
    await expect(page.locator('[data-metric="failing_runs_last_24h"]')).to_have_text("3")
    await expect(page.locator('[data-metric="batches_dlq_last_24h"]')).to_have_text("2")
    await expect(page.locator('[data-metric="failed_deliveries_last_24h"]')).to_have_text(
        str(body["failed_deliveries_last_24h"])
    )
    assert body["failed_deliveries_last_24h"] == 2 + 2
    assert "not all" not in (await page.locator("#live").inner_text())

    await page.goto(f"{live_url}/orgs/{tenant.id}/?days=1")
    text = await page.locator("#live").inner_text()
    assert "last 24 hours" in text
    assert "1 day" not in text
