"""Server-side checks of the Streaming Status additions: the run page, grouped errors, the
banner's inputs, ranges of days, and query values refused with a page that says what to use."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx
import pytest

from pipepulse.dashboard import advice
from pipepulse.dashboard.chart_range import days_words
from pipepulse.rules import OUTCOMES
from pipepulse.status.reasons import REASON_CODES
from tests.conftest import FrozenClock, Tenant
from tests.dashboard.conftest import metrics
from tests.dashboard.seed import Scenario, create_connection, push

ERROR_ITEM = re.compile(r'<li class="error-item" data-run-id="([^"]+)" data-count="(\d+)">')


def test_hints__every_reason_code__has_a_next_step() -> None:
    assert set(advice.HINTS) == set(REASON_CODES)
    assert all(hint.endswith(".") for hint in advice.HINTS.values())


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_outcome_explanation__every_outcome__says_how_it_counts(outcome: str) -> None:
    from datetime import UTC, datetime

    text = advice.outcome_explanation(
        outcome, 3, datetime(2026, 4, 20, 11, 50, tzinfo=UTC), timedelta(minutes=15)
    )
    expected = {
        "succeeded": "no error",
        "partial": "3 batches moved to the dead-letter queue",
        "failed": "one failed delivery",
        "orphaned": "did not report back within 15 minutes",
        "pending": "2026-04-20 12:05:00 UTC",
    }
    assert expected[outcome] in text


@pytest.mark.parametrize(
    ("first", "last", "words"),
    [
        (date(2026, 4, 15), date(2026, 4, 15), "15 Apr 2026"),
        (date(2026, 4, 15), date(2026, 4, 16), "15\N{EN DASH}16 Apr 2026"),
        (date(2026, 3, 30), date(2026, 4, 2), "30 Mar \N{EN DASH} 2 Apr 2026"),
        (date(2025, 12, 30), date(2026, 1, 2), "30 Dec 2025 \N{EN DASH} 2 Jan 2026"),
    ],
)
def test_days_words__a_range_of_days__read_as_people_write_it(first: date, last: date, words: str) -> None:
    assert days_words(first, last) == words


async def test_run_page__a_run__every_api_field_and_the_way_back(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    api = await reader_client.get(tenant.connection_url(scenario.degraded) + "metrics/", headers=tenant.read)
    run = next(r for r in api.json()["items"] if r["outcome"] == "partial")
    response = await reader_client.get(f"/orgs/{tenant.id}/connections/{scenario.degraded}/runs/{run['id']}/")

    assert response.status_code == 200
    fields = set(re.findall(r'data-field="(\w+)"', response.text))
    assert set(run) - {"message"} <= fields
    assert run["message"] in response.text
    back = re.search(r'href="([^"]+)">← Back to the runs of Events lake', response.text)
    assert back is not None
    assert back.group(1).endswith(f"#run-{run['id']}")
    assert "runs_from=" in back.group(1)


async def test_run_page__unknown_run_or_other_tenant__not_found_with_the_header(
    reader_client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, scenario: Scenario
) -> None:
    api = await reader_client.get(tenant.connection_url(scenario.error) + "metrics/", headers=tenant.read)
    run_id = api.json()["items"][0]["id"]
    for url in (
        f"/orgs/{tenant.id}/connections/{scenario.error}/runs/run_nope/",
        f"/orgs/{tenant.id}/connections/{scenario.active}/runs/{run_id}/",  # another connection's run
        f"/orgs/{other_tenant.id}/connections/{scenario.error}/runs/{run_id}/",
    ):
        response = await reader_client.get(url)
        assert response.status_code == 404, url
        assert "Sign out" in response.text


async def test_recent_errors__repeated_messages__grouped_with_counts_newest_first(
    reader_client: httpx.AsyncClient,
    tenant: Tenant,
    scenario: Scenario,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    for i in range(25):
        await push(
            reader_client,
            tenant,
            service_key,
            scenario.error,
            clock.now - timedelta(hours=30, minutes=i),
            error="boom",
        )
    await reader_client.post(  # an orphan: started 2 hours ago, never reported
        tenant.connection_url(scenario.error) + "metrics/",
        json={"started_at": (clock.now - timedelta(hours=2, minutes=30)).isoformat()},
        headers=service_key,
    )
    html = (await reader_client.get(f"/orgs/{tenant.id}/connections/{scenario.error}/")).text
    telemetry = (
        await reader_client.get(tenant.connection_url(scenario.error) + "telemetry/", headers=tenant.read)
    ).json()

    groups = ERROR_ITEM.findall(html)
    messages = re.findall(r'<p class="error-message">([^<]+)</p>', html)
    assert list(zip(messages, [int(n) for _, n in groups], strict=True)) == [
        ("boom", 26),
        ("permission denied", 1),  # at -2 h
        ("loader did not report back within 15 minutes", 1),  # counts at -2 h 15 min
        ("permission denied for schema analytics", 1),
    ]
    assert groups[0][0] == telemetry["recent_errors"][0]["run_id"]  # the newest "boom"
    assert "\N{MULTIPLICATION SIGN}26</strong> since" in html


async def test_recent_errors__orphans_on_the_weeks_edges__those_orphaned_in_the_week_only(
    reader_client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    # The week is (now - 7 days, now]; a run never reported is orphaned 15 minutes after it
    # started. Orphaned exactly 7 days ago: before the week. A microsecond later, and exactly
    # now: in it. Started 15 minutes ago less a microsecond: still pending, not an orphan yet.
    connection = await create_connection(reader_client, tenant, "Orders", "postgres")
    window, tick = timedelta(minutes=15), timedelta(microseconds=1)
    week_ago = clock.now - timedelta(days=7)
    for started in (
        week_ago - window,
        week_ago - window + tick,
        clock.now - window,
        clock.now - window + tick,
    ):
        response = await reader_client.post(
            tenant.connection_url(connection) + "metrics/",
            json={"started_at": started.isoformat()},
            headers=service_key,
        )
        assert response.status_code == 201, response.text

    html = (await reader_client.get(f"/orgs/{tenant.id}/connections/{connection}/")).text

    messages = re.findall(r'<p class="error-message">([^<]+)</p>', html)
    counts = [int(n) for _, n in ERROR_ITEM.findall(html)]
    assert list(zip(messages, counts, strict=True)) == [("loader did not report back within 15 minutes", 2)]


async def test_recent_errors__failed_runs_on_the_weeks_edges__those_completed_in_the_week_only(
    reader_client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    # The week is (now - 7 days, now]: a run failed exactly 7 days ago is before it, one a
    # microsecond later and one exactly now are in it, one reported a microsecond ahead is not.
    connection = await create_connection(reader_client, tenant, "Orders", "postgres")
    tick, week_ago = timedelta(microseconds=1), clock.now - timedelta(days=7)
    for completed in (week_ago, week_ago + tick, clock.now, clock.now + tick):
        await push(reader_client, tenant, service_key, connection, completed, error="boom")

    html = (await reader_client.get(f"/orgs/{tenant.id}/connections/{connection}/")).text

    messages = re.findall(r'<p class="error-message">([^<]+)</p>', html)
    counts = [int(n) for _, n in ERROR_ITEM.findall(html)]
    assert list(zip(messages, counts, strict=True)) == [("boom", 2)]


async def test_banner__failing_connection__latest_error_hint_and_failures_apart(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    html = (await reader_client.get(f"/orgs/{tenant.id}/connections/{scenario.degraded}/")).text
    shown = metrics(html)

    assert 'data-metric="latest_error"' in html
    assert advice.HINTS["failing_runs_24h"] in html
    assert shown["failing_runs_last_24h"] == "2"
    assert shown["batches_dlq_last_24h"] == "2"
    assert shown["failed_deliveries_last_24h"] == "3"
    # One line says what the 3 is and why it is not the 2 failing runs.
    assert (
        "= 2 dead-lettered batches + 1 failed or orphaned run, counting what was lost, not failing runs."
        in html
    )
    active = (await reader_client.get(f"/orgs/{tenant.id}/connections/{scenario.active}/")).text
    assert 'data-metric="latest_error"' not in active
    assert advice.HINTS["delivering"] in active


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("period=week", "The value period=week is not one this page accepts (24h, 7d, 30d)."),
        ("period=7D", "did you mean period=7d?"),
        ("runs=failed", "The value runs=failed is not one this page accepts (all, failing)."),
        ("from=2026-04-15", "A range of days needs both from and to"),
        ("from=2026-04-16&to=2026-04-15", "must be on or before the last"),
        ("from=2026-04-19&to=2026-04-21", "is in the future"),
        ("from=2026-03-01&to=2026-04-10", "at most 31 days"),
        ("from=15.4.2026&to=2026-04-16", "is not a date; write it as YYYY-MM-DD"),
        ("period=24h&from=2026-04-15&to=2026-04-16", "not both"),
        ("runs_before=yesterday", "not a place in the runs list"),
        ("runs_before=2026-04-20T10:00:00Z~a&runs_after=2026-04-20T10:00:00Z~b", "at most one of"),
        ("partial=maybe", "partial=maybe"),
    ],
)
async def test_connection_page__wrong_query_value__400_page_saying_what_to_use(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario, query: str, says: str
) -> None:
    response = await reader_client.get(f"/orgs/{tenant.id}/connections/{scenario.active}/?{query}")

    assert response.status_code == 400
    assert says in response.text.replace("&#39;", "'").replace("&amp;", "&")
    assert "Sign out" in response.text
    assert 'aria-label="Instead"' in response.text


async def test_organisation_page__wrong_values__refused_alike_with_links_to_the_right_ones(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    status = await reader_client.get(f"/orgs/{tenant.id}/?status=ERROR&days=7")
    days = await reader_client.get(f"/orgs/{tenant.id}/?days=5&status=error")
    page = await reader_client.get(f"/orgs/{tenant.id}/?page=two")

    assert status.status_code == days.status_code == page.status_code == 400
    assert f'href="/orgs/{tenant.id}/?days=7&amp;status=error"' in status.text
    assert f'href="/orgs/{tenant.id}/?status=error&amp;days=7"' in days.text
    assert "did you mean status=error?" in status.text
    for response in (status, days, page):
        assert "Sign out" in response.text


async def test_connection_page__range_of_days__chart_hours_and_history_of_those_days(
    reader_client: httpx.AsyncClient, tenant: Tenant, scenario: Scenario
) -> None:
    html = (
        await reader_client.get(
            f"/orgs/{tenant.id}/connections/{scenario.error}/",
            params={"from": "2026-04-18", "to": "2026-04-20"},
        )
    ).text

    hours = re.findall(r'<g class="bar[^"]*" data-hour="([^"]+)"', html)
    assert hours[0] == "2026-04-18T00:00:00Z"
    assert hours[-1] == "2026-04-20T12:00:00Z"  # today runs up to the current hour
    assert len(hours) == 48 + 13
    assert "Status history, 18\N{EN DASH}20 Apr 2026" in html
    assert 'value="2026-04-18"' in html
