"""Tenants never see each other, in every aggregate (SPEC §4.1).

For every read: each GET operation of the OpenAPI document, each dashboard page, and the
per-connection Prometheus families, the answer organisation A gets is byte-identical before
and after organisation B pushes runs into the same windows (same times, same run ids, an orphan,
a run exactly on the hour, its own alert channel and rule, an alert pass). A new GET operation
without an entry in ``READS`` fails the test, so every endpoint added is checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver, receiver
from tests.alerts.world import add_channel, add_rule
from tests.conftest import FrozenClock, Tenant, iso
from tests.dashboard.conftest import sign_in
from tests.dashboard.seed import Scenario, seed
from tests.helpers import push
from tests.metrics.test_prometheus import platform_headers

__all__ = ["receiver"]

HOUR = timedelta(hours=1)

# Query variants per GET operation of the OpenAPI document (path templates as it writes them).
CONN = "/api/v1/organisations/{organisation_pk}/integrations/warehouse-connections/{connection_id}/"
WINDOWS: list[dict[str, str]] = [
    {},
    {"time_type": "timeseries", "time_unit": "hour"},
    {"time_type": "timeseries", "time_unit": "day", "timestamp_from": "-7d"},
    {"time_type": "timesummary", "timestamp_from": "-30d"},
    {"time_type": "timeseries", "time_unit": "minute", "timestamp_from": "-2h"},
]
READS: dict[str, list[dict[str, str]]] = {
    "/api/v1/organisations/": [{}],
    "/api/v1/organisations/{organisation_pk}/": [{}],
    "/api/v1/organisations/{organisation_pk}/integrations/warehouse-connections/": [{}],
    CONN: [{}],
    CONN + "metrics/": [{}, {"outcome": "failed"}, {"outcome": "orphaned"}, {"size": "2"}],
    CONN + "metrics/{run_id}/": [{}],
    CONN + "telemetry/": [{}],
    CONN + "telemetry/metrics/": WINDOWS,
    CONN + "status-history/": [{}, {"from": "-30d"}],
    CONN + "health/": [{}],
    "/api/v1/telemetry/metrics/": [
        {},
        {"time_type": "timesummary"},
        {"ids": "{connection_ids}"},
        {"tenant_ids": "{organisation_pk}"},
        {"sort": "events_delivered", "sort_dir": "desc"},
        {"status": "error"},
        {"size": "2"},
    ],
    "/api/v1/organisations/{organisation_pk}/integration-health/": [{}, {"days": "1"}, {"days": "365"}],
    "/api/v1/spaces/{slug}/integration-health": [{}, {"days": "1"}, {"days": "365"}],
    "/api/v1/organisations/{organisation_pk}/alert-channels/": [{}],
    "/api/v1/organisations/{organisation_pk}/alert-channels/{channel_id}/": [{}],
    "/api/v1/organisations/{organisation_pk}/alert-channels/{channel_id}/heartbeat/": [{}],
    "/api/v1/organisations/{organisation_pk}/alert-rules/": [{}],
    "/api/v1/organisations/{organisation_pk}/alert-rules/{rule_id}/": [{}],
    "/api/v1/organisations/{organisation_pk}/notifications/": [{}],
    "/api/v1/organisations/{organisation_pk}/alert-groups/": [{}, {"state": "firing"}, {"state": "resolved"}],
    "/api/v1/organisations/{organisation_pk}/silences/": [{}],
    "/api/v1/organisations/{organisation_pk}/maintenance-windows/": [{}],
    "/api/v1/platform/silences/": [{}],
    # Platform channels, rules and delivery log: refused to an organisation's token, before and after.
    "/api/v1/platform/alert-channels/": [{}],
    "/api/v1/platform/alert-channels/{channel_id}/": [{}],
    "/api/v1/platform/alert-rules/": [{}],
    "/api/v1/platform/alert-rules/{rule_id}/": [{}],
    "/api/v1/platform/notifications/": [{}],
    "/api/v1/platform/alert-groups/": [{}, {"state": "open"}],
    CONN + "objectives/": [{}],
    CONN + "objectives/{objective_id}/": [{}],
    CONN + "objectives/{objective_id}/status/": [{}],
    "/api/v1/organisations/{organisation_pk}/objectives/": [{}],
    "/api/v1/organisations/{organisation_pk}/objectives/{objective_id}/": [{}],
    "/healthz": [{}],
    "/readyz": [{}],
}
PAGES = [
    "/orgs/",
    "/orgs/{organisation_pk}/",
    "/orgs/{organisation_pk}/connections/{connection_id}/",
    "/orgs/{organisation_pk}/connections/{connection_id}/runs/{run_id}/",
    "/orgs/{organisation_pk}/alerts/",
    "/orgs/{organisation_pk}/incidents/",
    "/orgs/{organisation_pk}/incidents/{group_id}/",
    # Platform pages: an organisation's session is told there is no such page, before and after.
    "/platform/incidents/",
    "/platform/alerts/",
]
# Per-response values that differ between two identical requests: a page's CSP nonce and CSRF token.
VOLATILE = re.compile(rb'(nonce="|nonce-|name="csrf_token" value="|csrf-token" content=")[^"\']+')


@pytest.fixture
def app(settings: Settings, db: Database, clock: FrozenClock) -> Any:
    allowed = settings.model_copy(update={"alerts_allow_private_urls": True})
    return create_app(allowed, clock=clock, database=db)


@dataclass
class World:
    scenario: Scenario
    run_ids: dict[str, str]  # connection id → one of its runs
    channel_id: str
    rule_id: str
    objective_id: str = ""  # the organisation's default objective, so every connection has it
    group_id: str = ""  # the open alert group of its grouping rule (filled after the alert pass)


async def populate(
    client: httpx.AsyncClient, tenant: Tenant, key: dict[str, str], clock: FrozenClock, receiver: Receiver
) -> World:
    """The seeded organisation, plus an orphan, a run exactly on the hour, a channel and a rule."""
    scenario = await seed(client, tenant, key, clock.now)
    on_the_hour = clock.now - 2 * HOUR
    await push(
        client, tenant, scenario.active, key, started_at=on_the_hour - HOUR, completed_at=on_the_hour,
        run_id="nightly-1", events_delivered=9,
    )  # fmt: skip
    await push(client, tenant, scenario.degraded, key, started_at=clock.now - HOUR, run_id="nightly-2")
    run_ids = {}
    for cid in scenario.ids.values():
        listed = (await client.get(tenant.connection_url(cid) + "metrics/", headers=tenant.read)).json()
        run_ids[cid] = listed["items"][0]["id"] if listed["items"] else "nightly-1"
    channel = await add_channel(client, tenant, receiver)
    rule = await add_rule(client, tenant, channel["id"], ["status:error", "recovered"])
    # A grouping rule too, so the Incidents pages have an open group to show.
    await add_rule(
        client, tenant, channel["id"], ["status:error"], group_by=["condition"], group_wait_seconds=0
    )
    objective = await client.post(
        f"/api/v1/organisations/{tenant.id}/objectives/",
        json={"indicator": "availability", "target_percent": 99.5, "window_days": 7},
        headers=tenant.write,
    )
    assert objective.status_code == 201, objective.text
    return World(scenario, run_ids, channel["id"], rule["id"], objective.json()["id"])


def requests_for(paths: list[str], tenant: Tenant, world: World, now_iso: dict[str, str]) -> list[str]:
    """Every concrete URL (path and query) organisation A reads, one per connection where it applies."""
    connections = list(world.scenario.ids.values())
    urls = []
    for template in paths:
        for variant in READS.get(template, [{}]):
            for cid in connections if "{connection_id}" in template else connections[:1]:
                fill = {
                    "organisation_pk": str(tenant.id),
                    "slug": tenant.slug,
                    "connection_id": cid,
                    "connection_ids": ",".join(connections),
                    "run_id": world.run_ids[cid],
                    "channel_id": world.channel_id,
                    "rule_id": world.rule_id,
                    "objective_id": world.objective_id,
                    "group_id": world.group_id,
                }
                path = template.format(**fill)
                query = {k: now_iso.get(v, v.format(**fill)) for k, v in variant.items()}
                urls.append(str(httpx.URL(path, params=query)))
    return urls


async def read_all(
    client: httpx.AsyncClient,
    app: Any,
    tenant: Tenant,
    urls: list[str],
    pages: list[str],
    scrape: dict[str, str],
) -> dict[str, tuple[int, bytes]]:
    out: dict[str, tuple[int, bytes]] = {}
    for url in urls:
        response = await client.get(url, headers=tenant.read)
        assert response.status_code < 500, (url, response.text)
        out[url] = (response.status_code, response.content)
    for url in pages:
        response = await client.get(url)
        assert response.status_code in (200, 303, 404), (url, response.text)  # /orgs/ sends one org home
        body = VOLATILE.sub(rb"\1-", response.content) + response.headers.get("location", "").encode()
        out["page " + url] = (response.status_code, body)
    app.state.health_exposition = None  # the scrape cache would hide a change for 15 s
    response = await client.get("/metrics", headers=scrape)
    assert response.status_code == 200
    out["/metrics"] = (200, response.content)
    return out


def series_of(exposition: bytes, world: World, tenant: Tenant) -> list[bytes]:
    """The per-connection and per-organisation samples about organisation A."""
    mine = [cid.encode() for cid in world.scenario.ids.values()]
    mine += [f'organisation="{tenant.slug}"'.encode(), f'organisation_id="{tenant.id}"'.encode()]
    return [line for line in exposition.splitlines() if any(m in line for m in mine)]


async def test_tenancy__every_read_page_and_metric__identical_with_another_organisations_runs_in_the_window(
    client: httpx.AsyncClient,
    app: Any,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    tenant: Tenant,
    other_tenant: Tenant,
    service_key: dict[str, str],
    receiver: Receiver,
) -> None:
    gets = [path for path, ops in app.openapi()["paths"].items() if "get" in ops]
    assert sorted(set(gets) - set(READS)) == [], "a GET operation without an entry in READS"

    mine = await populate(client, tenant, service_key, clock, receiver)
    await alert_pass(db, settings, clock.now)
    groups = f"/api/v1/organisations/{tenant.id}/alert-groups/"
    # Every rule groups (SPEC §7.4), so each of A's rules has an open group: any one will do.
    open_groups = (await client.get(groups, params={"state": "open"}, headers=tenant.read)).json()["items"]
    assert open_groups
    mine.group_id = open_groups[0]["id"]
    now = clock.now
    relative = {
        "-7d": iso(now - timedelta(days=7)),
        "-30d": iso(now - timedelta(days=30)),
        "-2h": iso(now - 2 * HOUR),
    }
    urls = requests_for(gets, tenant, mine, relative)
    pages = requests_for(PAGES, tenant, mine, relative)
    scrape = await platform_headers(db, now)
    assert (await sign_in(client, tenant.reader)).status_code == 303

    before = await read_all(client, app, tenant, urls, pages, scrape)

    # A platform rule over every organisation (SPEC §7.4): what it groups and sends is never A's.
    platform = await platform_write_headers(db, now)
    made = await client.post(
        "/api/v1/platform/alert-channels/",
        json={"name": "Platform", "kind": "webhook", "url": receiver.url},
        headers=platform,
    )
    assert made.status_code == 201, made.text
    rule = await client.post(
        "/api/v1/platform/alert-rules/",
        json={
            "channel_id": made.json()["id"],
            "events": ["status:error", "late"],
            "group_by": [],
            "group_wait_seconds": 0,
        },
        headers=platform,
    )
    assert rule.status_code == 201, rule.text

    # Organisation B: the same history at the same instants, with the same run ids, and more.
    await populate(client, other_tenant, service_key, clock, receiver)
    theirs = (await client.get(other_tenant.connections_url(), headers=other_tenant.read)).json()
    assert len(theirs["items"]) == 4
    await alert_pass(db, settings, now)

    after = await read_all(client, app, tenant, urls, pages, scrape)

    assert before.keys() == after.keys()
    for url in before:
        if url == "/metrics":
            assert series_of(after[url][1], mine, tenant) == series_of(before[url][1], mine, tenant)
            assert series_of(before[url][1], mine, tenant) != []
        else:
            assert after[url] == before[url], url
    # Each answer really is about A (and B's data is there to be seen by B).
    assert len(before) > 60
    b_health = await client.get(
        f"/api/v1/spaces/{other_tenant.slug}/integration-health", headers=other_tenant.read
    )
    assert b_health.json()["total_events"] > 0
    # A's group page is there to compare, and B has an open group of its own that A never sees.
    assert before[f"page /orgs/{tenant.id}/incidents/{mine.group_id}/"][0] == 200
    theirs_open = f"/api/v1/organisations/{other_tenant.id}/alert-groups/"
    b_groups = (await client.get(theirs_open, params={"state": "open"}, headers=other_tenant.read)).json()[
        "items"
    ]
    assert b_groups
    assert mine.group_id not in {g["id"] for g in b_groups}
    assert before["page /platform/incidents/"][0] == 404
    platform_groups = (await client.get("/api/v1/platform/notifications/", headers=platform)).json()
    assert platform_groups["total"] > 0, "the platform rule grouped B's alerts"


async def platform_write_headers(db: Database, now: datetime) -> dict[str, str]:
    async with db.session(write=True) as session:
        issued = await auth_service.create_token(
            session, organisation_id=None, scopes=list(scopes.ALL), name="platform", now=now
        )
    return {"Authorization": f"Bearer {issued.token}"}
