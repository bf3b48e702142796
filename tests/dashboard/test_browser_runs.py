"""Recent errors grouped and linked to their runs; runs paged by time, steady under refreshes;
the failing-runs filter."""

from __future__ import annotations

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


async def row_ids(page: Page) -> list[str]:
    ids: list[str] = await page.locator("table.runs tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.runId)"
    )
    return ids


async def test_recent_errors__same_message_many_times__one_group_counted_and_linked_to_the_row(
    page: Page,
    live_url: str,
    live_api: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    live_scenario: Scenario,
    live_clock: FrozenClock,
) -> None:
    # 40 runs of the same failure, every 10 minutes: the newest ones push the oldest off page 1.
    message = "snowflake: warehouse ANALYTICS_WH is suspended"
    for i in range(40):
        at = live_clock.now - timedelta(minutes=10 * i + 5)
        await push(live_api, tenant, service_key, live_scenario.active, at, error=message)
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.active}/")

    groups = page.locator("li.error-item")
    await expect(groups).to_have_count(1)
    group = groups.first
    await expect(group.locator(".error-message")).to_have_text(message)
    await expect(group.locator(".error-count")).to_have_text("\N{MULTIPLICATION SIGN}40")
    await expect(group).to_contain_text("since 2026-04-20 05:25 UTC")

    newest = await group.get_attribute("data-run-id")
    await group.locator("a.error-run").click()
    row = page.locator(f"#run-{newest}")
    await expect(row).to_be_in_viewport()
    assert await row.evaluate("r => r.matches(':target')")

    # Each run id in the table is a link to the run's own page.
    link = row.locator("td.run-id a")
    await expect(link).to_have_text(str(newest))
    await link.click()
    await expect(page).to_have_url(
        f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.active}/runs/{newest}/"
    )


async def test_runs_paging__older_page_then_new_runs__rows_stay_and_the_page_opens_at_the_table(
    page: Page,
    live_url: str,
    live_api: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    live_scenario: Scenario,
    live_clock: FrozenClock,
) -> None:
    for i in range(40):
        await push(
            live_api, tenant, service_key, live_scenario.active, live_clock.now - timedelta(minutes=3 * i + 1)
        )
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.active}/")
    first_page = await row_ids(page)

    await page.get_by_role("link", name="Older →").click()
    await expect(page).to_have_url(re.compile(r"runs_before=.*#runs$"))
    # The table, not the top of the page: the reader is where they were reading.
    heading = await page.locator("#runs-title").bounding_box()
    assert heading is not None
    assert 0 <= heading["y"] < 200
    second_page = await row_ids(page)
    assert len(second_page) == 40 + 8 - 25  # the seeded week adds 8 runs
    assert not set(first_page) & set(second_page)

    live_clock.advance(minutes=1)
    try:
        for seconds in (5, 15, 25):
            await push(
                live_api,
                tenant,
                service_key,
                live_scenario.active,
                live_clock.now - timedelta(seconds=seconds),
            )
        assert await page.evaluate("window.pipepulse.refresh()") is True
        assert await row_ids(page) == second_page
    finally:
        live_clock.now -= timedelta(minutes=1)

    # Newer: the page just before, as it was, though three newer runs arrived since.
    await page.get_by_role("link", name="← Newer").click()
    await expect(page.locator("table.runs tbody tr").first).to_have_attribute("data-run-id", first_page[0])
    assert await row_ids(page) == first_page
    await expect(page.get_by_role("link", name="Older →")).to_be_visible()


async def test_runs_filter__failing_only__only_failing_rows_and_back(
    page: Page, live_url: str, tenant: Tenant, live_scenario: Scenario
) -> None:
    await sign_in(page, live_url, tenant.reader)
    await page.goto(f"{live_url}/orgs/{tenant.id}/connections/{live_scenario.degraded}/")
    await expect(page.locator("table.runs tbody tr")).to_have_count(4)

    await (
        page.get_by_role("navigation", name="Which runs")
        .get_by_role("link", name="Failing runs only")
        .click()
    )

    await expect(page).to_have_url(re.compile(r"\?runs=failing#runs$"))
    outcomes = page.locator("table.runs tbody tr")
    await expect(outcomes).to_have_count(2)
    assert sorted(await outcomes.evaluate_all("rows => rows.map(r => r.dataset.outcome)")) == [
        "failed",
        "partial",
    ]
    await expect(page.locator("#runs-title .count")).to_have_text("2")
