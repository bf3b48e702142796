"""The platform pages in a real headless Chromium (SPEC §7.7): every organisation's open groups
made by the scheduler's alert pass from runs pushed over HTTP, acknowledged from the page, a
platform silence added and expired by form; usable on a phone; hidden from an organisation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.test_browser_alerts import (
    NOW,
    alerts_browser,
    alerts_live_url,
    chromium_path,
    page,
    sign_in,
)
from tests.conftest import Tenant, iso

__all__ = ["alerts_browser", "alerts_live_url", "chromium_path", "page"]
pytestmark = pytest.mark.browser


async def failing_fleet(
    live_url: str,
    tenants: list[tuple[Tenant, list[str]]],
    receiver: Receiver,
    key: dict[str, str],
    db: Database,
    settings: Settings,
) -> dict[int, str]:
    """Each organisation's connections (of the given types) failing with one error template under
    a rule grouping everything; the open group of each organisation."""
    async with httpx.AsyncClient() as client:
        made: list[tuple[Tenant, list[str]]] = []
        for who, kinds in tenants:
            api = f"{live_url}/api/v1/organisations/{who.id}"
            channel = (
                await client.post(
                    f"{api}/alert-channels/",
                    json={"name": "Hook", "kind": "webhook", "url": receiver.url},
                    headers=who.write,
                )
            ).json()
            rule = await client.post(
                f"{api}/alert-rules/",
                json={
                    "channel_id": channel["id"],
                    "events": ["status:error"],
                    "group_by": [],
                    "group_wait_seconds": 0,
                },
                headers=who.write,
            )
            assert rule.status_code == 201, rule.text
            ids: list[str] = []
            made.append((who, ids))
            for i, kind in enumerate(kinds):
                response = await client.post(
                    f"{api}/integrations/warehouse-connections/",
                    json={"name": f"{who.slug} replica {i}", "type": kind, "state": "connected"},
                    headers=who.write,
                )
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
        await alert_pass(db, settings, NOW - timedelta(hours=2))
        for who, ids in made:
            api = f"{live_url}/api/v1/organisations/{who.id}"
            for cid in ids:
                for k in range(3):
                    at = NOW - timedelta(minutes=30 - k)
                    body: dict[str, Any] = {
                        "started_at": iso(at - timedelta(seconds=5)),
                        "completed_at": iso(at),
                        "events_delivered": 0,
                        "batches_dlq": 0,
                        "error": f"connection refused to db-{cid[-3:]}.internal:5432",
                    }
                    pushed = await client.post(
                        f"{api}/integrations/warehouse-connections/{cid}/metrics/", json=body, headers=key
                    )
                    assert pushed.status_code == 201, pushed.text
    await alert_pass(db, settings, NOW)
    return {d.json["organisation"]["id"]: d.json["group"]["id"] for d in receiver.received("alert_group")}


async def test_browser__platform_incidents__every_organisation_acknowledged_from_the_page_phone_too(
    page: Page,
    alerts_browser: Browser,
    alerts_live_url: str,
    tenant: Tenant,
    other_tenant: Tenant,
    receiver: Receiver,
    db: Database,
    settings: Settings,
    service_key: dict[str, str],
) -> None:
    live = settings.model_copy(update={"alerts_allow_private_urls": True})
    groups = await failing_fleet(
        alerts_live_url,
        [(tenant, ["postgres", "postgres"]), (other_tenant, ["snowflake"])],
        receiver,
        service_key,
        db,
        live,
    )
    assert set(groups) == {tenant.id, other_tenant.id}
    async with db.session(write=True) as session:
        platform = await auth_service.create_token(
            session, organisation_id=None, scopes=list(scopes.ALL), name="platform on-call", now=NOW
        )

    await sign_in(page, alerts_live_url, platform.token)
    await page.get_by_role("link", name="open incidents").click()
    await expect(page).to_have_url(f"{alerts_live_url}/platform/incidents/")
    await expect(page.locator("#incidents tbody tr")).to_have_count(2)
    await expect(page.locator("#fleet-summary")).to_contain_text("2 open groups, 3 connections firing")
    await expect(page.locator(f"#by-organisation tr[data-organisation='{tenant.id}'] td").first).to_have_text(
        "2"
    )
    await expect(page.locator("#by-destination tr[data-destination='snowflake']")).to_contain_text(
        "Snowflake"
    )
    await expect(page.locator("#by-fingerprint tbody tr")).to_have_count(1)
    await expect(page.locator("#firing-alerts tbody tr")).to_have_count(3)

    theirs = page.locator(f"#incidents tr[data-group='{groups[other_tenant.id]}']")
    await expect(theirs).to_contain_text("1 connection in Error")
    await theirs.get_by_label("Comment").fill("platform on it")
    await theirs.get_by_role("button", name="Acknowledge").click()
    await expect(page).to_have_url(f"{alerts_live_url}/platform/incidents/?done=acknowledged")
    await expect(page.get_by_role("status")).to_contain_text("The group was acknowledged")
    theirs = page.locator(f"#incidents tr[data-group='{groups[other_tenant.id]}']")
    await expect(theirs).to_contain_text("platform on-call")
    await expect(theirs).to_contain_text("“platform on it”")
    await expect(theirs.get_by_role("button", name="Acknowledge again")).to_be_visible()

    # Through to the organisation's group page, and acknowledged there too.
    ours = page.locator(f"#incidents tr[data-group='{groups[tenant.id]}']")
    await ours.get_by_role("link", name="2 connections in Error").click()
    await expect(page).to_have_url(f"{alerts_live_url}/orgs/{tenant.id}/incidents/{groups[tenant.id]}/")
    await expect(page.locator("#incident-alerts tbody tr")).to_have_count(2)
    form = page.locator("#acknowledge")
    await form.get_by_label("Comment").fill("checked the replicas")
    await form.get_by_role("button", name="Acknowledge").click()
    await expect(page.get_by_role("status")).to_contain_text("The group was acknowledged")
    await expect(page.locator("#incidents")).to_contain_text("“checked the replicas”")

    phone = await alerts_browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    small = await phone.new_page()
    await sign_in(small, alerts_live_url, platform.token)
    for path in ("/platform/incidents/", "/platform/alerts/"):
        await small.goto(alerts_live_url + path)
        await expect(small.locator("h1")).to_be_visible()
        width = await small.evaluate("document.documentElement.scrollWidth")
        assert width <= 375 + 1, path
    await expect(small.get_by_role("form", name="Add a silence")).to_be_visible()

    # An organisation's session: no such page.
    other = await alerts_browser.new_context(viewport={"width": 1280, "height": 900})
    theirs_page = await other.new_page()
    await sign_in(theirs_page, alerts_live_url, tenant.writer)
    response = await theirs_page.goto(f"{alerts_live_url}/platform/incidents/")
    assert response is not None
    assert response.status == 404
    await expect(theirs_page.locator("body")).to_contain_text("platform pages need a platform token")
    await expect(theirs_page.locator("body")).not_to_contain_text("Globex")
    await phone.close()
    await other.close()


async def test_browser__platform_alerts__silence_added_and_expired_by_form(
    page: Page, alerts_live_url: str, db: Database
) -> None:
    async with db.session(write=True) as session:
        platform = await auth_service.create_token(
            session, organisation_id=None, scopes=list(scopes.ALL), name="platform on-call", now=NOW
        )
    await sign_in(page, alerts_live_url, platform.token)
    await page.get_by_role("link", name="platform silences").click()
    await expect(page).to_have_url(f"{alerts_live_url}/platform/alerts/")
    await expect(page.get_by_text("No active or pending silences.")).to_be_visible()
    form = page.get_by_role("form", name="Add a silence")
    await form.get_by_label("Matchers").fill("organisation=acme\ncondition=error")
    await form.get_by_label("or for").fill("2h")
    await form.get_by_label("Comment").fill("acme warehouse upgrade")
    await form.get_by_role("button", name="Add silence").click()
    await expect(page.get_by_role("status")).to_have_text("The silence was added.")
    row = page.locator("table.silences tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_have_attribute("data-state", "active")
    await expect(row.locator(".chip")).to_have_text(["organisation=acme", "condition=error"])
    await expect(row).to_contain_text("platform on-call")

    # A bad regex: the API's message, the form kept as typed.
    await form.get_by_label("Matchers").fill("connection=~(")
    await form.get_by_label("or for").fill("1h")
    await form.get_by_role("button", name="Add silence").click()
    await expect(page.get_by_role("alert")).to_contain_text("connection")
    await expect(page.get_by_role("form", name="Add a silence").get_by_label("Matchers")).to_have_value(
        "connection=~("
    )

    await page.locator("table.silences tbody tr").get_by_role("button", name="Expire silence 1").click()
    await expect(page.get_by_role("status")).to_have_text("The silence was expired.")
    await expect(page.locator("table.silences tbody tr")).to_have_count(0)
