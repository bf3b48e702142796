"""The organisation and Streaming Status pages show what the JSON API says."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.conftest import FrozenClock, Tenant, iso
from tests.dashboard.conftest import metrics, sign_in, telemetry_metrics
from tests.dashboard.seed import Scenario, push

CARD = re.compile(
    r'<li class="card card-\w+[^"]*" data-connection-id="([^"]+)" data-status="(\w+)"[^>]*>(.*?)</li>', re.S
)


def cards(html: str) -> list[tuple[str, str, dict[str, str]]]:
    return [(cid, status, metrics(body)) for cid, status, body in CARD.findall(html)]


async def telemetry(client: httpx.AsyncClient, tenant: Tenant, connection_id: str) -> dict[str, object]:
    response = await client.get(tenant.connection_url(connection_id) + "telemetry/", headers=tenant.read)
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_organisation_page__cards__statuses_and_numbers_of_the_telemetry_api(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    response = await reader_client.get(f"/orgs/{tenant.id}/")
    assert response.status_code == 200

    shown = cards(response.text)
    assert [status for _, status, _ in shown] == ["error", "degraded", "idle", "active"]
    for connection_id, status, numbers in shown:
        body = await telemetry(reader_client, tenant, connection_id)
        expected = telemetry_metrics(body)  # type: ignore[arg-type]
        assert status == body["status"] == next(k for k, v in scenario.ids.items() if v == connection_id)
        assert numbers["events_last_24h.total"] == expected["events_last_24h.total"]
        assert numbers["last_delivery_at"] == expected["last_delivery_at"]


async def test_organisation_page__card__status_word_reason_and_exact_time_on_hover(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    html = (await reader_client.get(f"/orgs/{tenant.id}/")).text

    assert '<span class="status-word">Error</span>' in html
    assert "The last 3 finished runs were all failing." in html
    exact = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
    assert re.search(rf'<time datetime="[^"]+Z" title="{exact}"[^>]*>\d+ \w+ ago</time>', html)
    assert html.count('<svg class="spark"') == 4


async def test_organisation_page__status_filter__only_that_status(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    response = await reader_client.get(f"/orgs/{tenant.id}/", params={"status": "degraded"})

    assert [(cid, status) for cid, status, _ in cards(response.text)] == [(scenario.degraded, "degraded")]


async def test_organisation_page__partial__only_the_live_region(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    response = await reader_client.get(f"/orgs/{tenant.id}/", params={"partial": "true"})

    assert response.status_code == 200
    assert "<html" not in response.text
    assert len(cards(response.text)) == 4


async def test_organisation_page__health_summary__numbers_of_the_health_api(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    api = await reader_client.get(
        f"/api/v1/organisations/{tenant.id}/integration-health/", params={"days": 7}, headers=tenant.read
    )
    assert api.status_code == 200
    body = api.json()

    html = (await reader_client.get(f"/orgs/{tenant.id}/", params={"days": 7})).text

    shown = metrics(html)
    for key in ("total_events", "success_count", "error_count"):
        assert shown[key] == str(body[key])
    assert f"{body['success_rate']}<small>%</small>" in html
    for entry in body["by_integration_type"]:
        assert f'data-integration-type="{entry["integration_type"]}"' in html


async def test_connection_page__each_connection__every_number_of_the_telemetry_api(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    for connection_id in scenario.ids.values():
        body = await telemetry(reader_client, tenant, connection_id)
        response = await reader_client.get(f"/orgs/{tenant.id}/connections/{connection_id}/")
        assert response.status_code == 200

        shown = metrics(response.text)
        for key, value in telemetry_metrics(body).items():  # type: ignore[arg-type]
            if key.endswith(".total"):
                continue
            assert shown[key] == value, key
        assert shown["events_last_24h.total"] == str(body["events_last_24h"]["total"])  # type: ignore[index]
        assert f'data-status="{body["status"]}"' in response.text
        run_ids = re.findall(r'<li class="error-item" data-run-id="([^"]+)"', response.text)
        assert run_ids == [e["run_id"] for e in body["recent_errors"]]  # type: ignore[attr-defined]


async def test_connection_page__chart__one_bar_group_per_hour_failing_hours_marked(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    html = (await reader_client.get(f"/orgs/{tenant.id}/connections/{scenario.degraded}/")).text

    groups = re.findall(r'<g class="bar( failing)?[^"]*" data-hour="([^"]+)" data-total="(\d+)"', html)
    assert len(groups) == 168
    assert groups[-1][1] == "2026-04-20T12:00:00Z"
    assert sum(1 for failing, _, _ in groups if failing) == 2
    assert sum(int(total) for _, _, total in groups) == 500 + 80 + 300
    assert "The latest run succeeded" in html or "the latest run succeeded" in html


async def test_connection_page__failing_runs__errors_listed_with_their_messages(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    html = (await reader_client.get(f"/orgs/{tenant.id}/connections/{scenario.error}/")).text

    assert "permission denied for schema analytics" in html
    assert "The last 3 finished runs were all failing." in html
    degraded = (await reader_client.get(f"/orgs/{tenant.id}/connections/{scenario.degraded}/")).text
    assert "2 batches moved to the dead-letter queue" in degraded


RUN_ROW = re.compile(r'<tr id="run-[^"]+" data-run-id="([^"]+)" data-outcome="(\w+)">')
OLDER = re.compile(r'href="(\?[^"]*runs_before=[^"#]*)#runs" rel="next"')


async def test_connection_page__runs__newest_first_by_keyset_pages(
    reader_client: httpx.AsyncClient,
    tenant: Tenant,
    scenario: Scenario,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    for minutes in range(1, 19):  # 26 runs: one full page and one row over
        at = clock.now - timedelta(minutes=minutes)
        await push(reader_client, tenant, service_key, scenario.active, at)
    url = f"/orgs/{tenant.id}/connections/{scenario.active}/"
    first = await reader_client.get(url)
    older = OLDER.search(first.text)
    assert older is not None
    second = await reader_client.get(url + older.group(1).replace("&amp;", "&"))

    rows_1 = RUN_ROW.findall(first.text)
    rows_2 = RUN_ROW.findall(second.text)
    api = await reader_client.get(
        tenant.connection_url(scenario.active) + "metrics/", params={"size": 50}, headers=tenant.read
    )
    assert [r for r, _ in rows_1 + rows_2] == [r["id"] for r in api.json()["items"]]
    assert len(rows_1) == 25
    assert len(rows_2) == 1
    assert 'rel="next"' not in second.text
    assert 'rel="prev"' in second.text


async def test_connection_page__runs_past_the_first_page__new_runs_do_not_shift_them(
    reader_client: httpx.AsyncClient,
    tenant: Tenant,
    scenario: Scenario,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    for minutes in range(1, 30):
        await push(
            reader_client, tenant, service_key, scenario.active, clock.now - timedelta(minutes=minutes)
        )
    url = f"/orgs/{tenant.id}/connections/{scenario.active}/"
    older = OLDER.search((await reader_client.get(url)).text)
    assert older is not None
    page_two = url + older.group(1).replace("&amp;", "&")
    before = RUN_ROW.findall((await reader_client.get(page_two)).text)

    clock.advance(minutes=2)
    for seconds in (10, 20, 30):
        await push(
            reader_client, tenant, service_key, scenario.active, clock.now - timedelta(seconds=seconds)
        )
    refreshed = (await reader_client.get(page_two + "&partial=true")).text

    assert RUN_ROW.findall(refreshed) == before
    assert len(before) == 29 + 8 - 25  # the second page of this connection's runs


NEWER = re.compile(r'href="(\?[^"]*runs_after=[^"#]*)#runs" rel="prev"')


async def test_connection_page__runs_sharing_a_start_across_page_edges__each_run_once_in_order(
    reader_client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    # 60 runs; six share a start across the first page's edge (rows 23-28) and six across the
    # second's (rows 48-53). Ids are out of step with the starts, and the runs arrive in yet
    # another order, so neither the ids nor the arrival can stand in for the list's order.
    def slot(i: int) -> int:
        return 22 if 22 <= i <= 27 else i - 5 if i < 47 else 42 if i <= 52 else i - 10

    starts = {
        f"run-{(i * 37) % 60:02d}": clock.now - timedelta(minutes=10 + slot(i), microseconds=250_001)
        for i in range(60)
    }
    for run_id in sorted(starts, key=lambda r: (int(r[4:]) * 7) % 60):
        body = {
            "run_id": run_id,
            "started_at": iso(starts[run_id]),
            "completed_at": iso(starts[run_id] + timedelta(seconds=30)),
            "events_delivered": 1,
            "batches_dlq": 0,
        }
        response = await reader_client.post(
            tenant.connection_url(connection["id"]) + "metrics/", json=body, headers=service_key
        )
        assert response.status_code == 201, response.text
    expected = sorted(starts, key=lambda r: (starts[r], r), reverse=True)  # newest first, then id
    url = f"/orgs/{tenant.id}/connections/{connection['id']}/"

    async def page(query: str) -> tuple[list[str], str]:
        html = (await reader_client.get(url + query.replace("&amp;", "&"))).text
        return [run_id for run_id, _ in RUN_ROW.findall(html)], html

    def link(pattern: re.Pattern[str], html: str) -> str:
        found = pattern.search(html)
        assert found is not None
        return found.group(1)

    first, html_1 = await page("")
    second, html_2 = await page(link(OLDER, html_1))
    third, html_3 = await page(link(OLDER, html_2))
    assert (first, second, third) == (expected[:25], expected[25:50], expected[50:])
    assert NEWER.search(html_1) is None
    assert OLDER.search(html_3) is None

    # Back with the Newer links: the page before each, and from the second the newest page.
    back_2, html_back_2 = await page(link(NEWER, html_3))
    back_1, html_back_1 = await page(link(NEWER, html_2))
    assert back_2 == expected[25:50]
    assert NEWER.search(html_back_2) is not None
    assert OLDER.search(html_back_2) is not None
    assert back_1 == expected[:25]
    assert NEWER.search(html_back_1) is None

    # A page from a run (a run's "Back to the runs" link) starts at that run, even inside a tie.
    for k in (0, 23, 24, 25, 27, 48, 50, 52):
        rows, html = await page("?" + urlencode({"runs_from": f"{iso(starts[expected[k]])}~{expected[k]}"}))
        assert rows == expected[k : k + 25], k
        assert (NEWER.search(html) is not None) is (k > 0), k


RUNS_COUNT = re.compile(r'<h2 id="runs-title">Runs <span class="count">([\d,]+)</span>')


async def test_connection_page__runs_count__this_connections_runs_and_with_the_filter_its_failing_ones(
    reader_client: httpx.AsyncClient,
    tenant: Tenant,
    scenario: Scenario,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    # "Events lake" holds two good runs, a failed and a partial one; add a pending run still
    # inside its orphan window and one past it (orphaned).
    for minutes in (5, 120):
        seeded = await reader_client.post(
            tenant.connection_url(scenario.degraded) + "metrics/",
            json={"started_at": iso(clock.now - timedelta(minutes=minutes))},
            headers=service_key,
        )
        assert seeded.status_code == 201, seeded.text

    async def count(connection_id: str, **params: str) -> str:
        html = (
            await reader_client.get(f"/orgs/{tenant.id}/connections/{connection_id}/", params=params)
        ).text
        found = RUNS_COUNT.search(html)
        assert found is not None
        return found.group(1)

    listed = {
        cid: len(
            (await reader_client.get(tenant.connection_url(cid) + "metrics/", headers=tenant.read)).json()[
                "items"
            ]
        )
        for cid in (scenario.degraded, scenario.active, scenario.idle)
    }
    assert listed == {scenario.degraded: 6, scenario.active: 8, scenario.idle: 0}
    assert await count(scenario.degraded) == "6"
    assert await count(scenario.degraded, runs="failing") == "3"  # partial, failed, orphaned
    assert await count(scenario.active) == "8"
    assert await count(scenario.idle) == "0"
    assert await count(scenario.idle, runs="failing") == "0"


async def test_connection_page__failing_runs_only__partial_failed_and_orphaned(
    reader_client: httpx.AsyncClient,
    tenant: Tenant,
    scenario: Scenario,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    orphan = await reader_client.post(
        tenant.connection_url(scenario.degraded) + "metrics/",
        json={"started_at": (clock.now - timedelta(hours=2)).isoformat()},
        headers=service_key,
    )
    assert orphan.status_code == 201
    html = (
        await reader_client.get(
            f"/orgs/{tenant.id}/connections/{scenario.degraded}/", params={"runs": "failing"}
        )
    ).text

    assert sorted(outcome for _, outcome in RUN_ROW.findall(html)) == ["failed", "orphaned", "partial"]
    assert 'aria-current="true">Failing runs only</a>' in html


async def test_connection_page__no_runs__no_data_yet_shape(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    html = (await reader_client.get(f"/orgs/{tenant.id}/connections/{scenario.idle}/")).text

    assert 'data-status="idle"' in html
    assert "Nothing delivered yet" in html
    assert "No runs yet." in html
    assert "No failing runs in the last 7 days." in html


async def test_tenancy__other_organisations_pages__not_found_pages(
    reader_client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, scenario: Scenario
) -> None:
    urls = [
        f"/orgs/{other_tenant.id}/",
        f"/orgs/{other_tenant.id}/connections/{scenario.active}/",
        f"/orgs/{tenant.id}/connections/wc_doesnotexist/",
        f"/orgs/{other_tenant.id}/connections/{scenario.active}/runs/run_anything/",
        "/orgs/999999/",
        f"/orgs/{other_tenant.id}/incidents/",
        f"/orgs/{other_tenant.id}/incidents/agr_{'0' * 24}/",
        # The platform pages: an organisation's token sees none of them.
        "/platform/incidents/",
        "/platform/alerts/",
    ]
    for url in urls:
        response = await reader_client.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html")
        assert "Not found" in response.text


async def test_tenancy__other_organisation_token__cannot_see_this_connection(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, scenario: Scenario
) -> None:
    await sign_in(client, other_tenant.reader)

    assert (await client.get(f"/orgs/{tenant.id}/connections/{scenario.active}/")).status_code == 404
    assert (await client.get(f"/orgs/{other_tenant.id}/connections/{scenario.active}/")).status_code == 404
    own = await client.get(f"/orgs/{other_tenant.id}/")
    assert own.status_code == 200
    assert cards(own.text) == []


async def test_malformed_urls__html_not_found__api_errors_stay_json(
    reader_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for url in ("/orgs/abc/", f"/orgs/{tenant.id}/connections/bad%20id/"):
        response = await reader_client.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html")
    wrong_value = await reader_client.get(f"/orgs/{tenant.id}/?status=x")
    assert wrong_value.status_code == 400
    assert wrong_value.headers["content-type"].startswith("text/html")
    api = await reader_client.get("/api/v1/organisations/abc/", headers=tenant.read)
    assert api.status_code == 422
    assert api.headers["content-type"] == "application/json"
    missing = await reader_client.get("/api/v1/organisations/999/", headers=tenant.read)
    assert missing.json() == {"detail": "organisation not found"}


async def test_organisations_picker__platform_token__lists_every_organisation(
    client: httpx.AsyncClient, db: object, tenant: Tenant, other_tenant: Tenant, clock: FrozenClock
) -> None:
    from pipepulse.auth import service as auth_service

    async with db.session(write=True) as session:  # type: ignore[attr-defined]
        issued = await auth_service.create_token(
            session, organisation_id=None, scopes=["read:pipeline_metrics"], name="p", now=clock.now
        )
    signed = await sign_in(client, issued.token)
    assert signed.headers["location"] == "/orgs/"

    html = (await client.get("/orgs/")).text
    assert f'href="/orgs/{tenant.id}/"' in html
    assert f'href="/orgs/{other_tenant.id}/"' in html
    assert (await client.get(f"/orgs/{other_tenant.id}/")).status_code == 200


async def test_single_organisation_token__picker__goes_to_its_organisation(
    reader_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await reader_client.get("/orgs/")
    assert response.status_code == 303
    assert response.headers["location"] == f"/orgs/{tenant.id}/"


async def test_connection_page__new_run__shown_on_the_next_refresh(
    reader_client: httpx.AsyncClient,
    tenant: Tenant,
    scenario: Scenario,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    url = f"/orgs/{tenant.id}/connections/{scenario.idle}/"
    before = metrics((await reader_client.get(url, params={"partial": "true"})).text)
    await push(reader_client, tenant, service_key, scenario.idle, clock.now, evaluations=7)
    after = metrics((await reader_client.get(url, params={"partial": "true"})).text)

    assert before["events_last_24h.total"] == "0"
    assert after["events_last_24h.total"] == "7"


async def test_static_files__own_css_and_js__anything_else_not_found(client: httpx.AsyncClient) -> None:
    css = await client.get("/static/dashboard/dashboard.css")
    js = await client.get("/static/dashboard/dashboard.js")
    assert css.status_code == js.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert (await client.get("/static/dashboard/..%2Fsession.py")).status_code == 404
    assert (await client.get("/static/dashboard/router.py")).status_code == 404


async def test_organisation_page__many_connections__paged_problems_first_counts_cover_all(
    reader_client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    from pipepulse.dashboard.organisation_view import CARDS_PER_PAGE

    failing = []
    for i in range(CARDS_PER_PAGE + 3):
        created = await reader_client.post(
            tenant.connections_url(), json={"name": f"c{i:02d}", "type": "duckdb"}, headers=tenant.write
        )
        if i % 17 == 5:  # a few failing connections, scattered through the names
            failing.append(created.json()["id"])
            await reader_client.post(
                tenant.connection_url(created.json()["id"]) + "metrics/",
                json={
                    "started_at": (clock.now - timedelta(minutes=5)).isoformat(),
                    "completed_at": (clock.now - timedelta(minutes=4)).isoformat(),
                    "error": "boom",
                },
                headers=service_key,
            )
    first = (await reader_client.get(f"/orgs/{tenant.id}/")).text
    second = (await reader_client.get(f"/orgs/{tenant.id}/?page=2")).text
    page_one, page_two = cards(first), cards(second)
    assert len(page_one) == CARDS_PER_PAGE
    assert len(page_two) == 3
    assert [cid for cid, _, _ in page_one[: len(failing)]] == failing
    assert {status for _, status, _ in page_one[: len(failing)]} == {"error"}
    assert {cid for cid, _, _ in page_one}.isdisjoint({cid for cid, _, _ in page_two})
    assert "Page 1 of 2" in first
    assert f'Error <span class="count">{len(failing)}</span>' in first
    assert f'Idle <span class="count">{CARDS_PER_PAGE + 3 - len(failing)}</span>' in first


async def test_favicon__asked_for_by_every_browser__served_not_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    page = await client.get("/")
    assert '<link rel="icon" href="/static/dashboard/favicon.svg' in page.text
