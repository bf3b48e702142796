"""Objectives CRUD and the status read (SPEC §7.6) end to end, on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import FrozenClock, Tenant
from tests.helpers import push

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def org_objectives(tenant: Tenant) -> str:
    return f"/api/v1/organisations/{tenant.id}/objectives/"


def conn_objectives(tenant: Tenant, connection_id: str) -> str:
    return tenant.connection_url(connection_id) + "objectives/"


async def add_connection(client: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> str:
    body = {"name": "Warehouse", "type": "duckdb", "state": "connected", **fields}
    response = await client.post(tenant.connections_url(), json=body, headers=tenant.write)
    assert response.status_code == 201, response.text
    connection_id: str = response.json()["id"]
    return connection_id


async def add_objective(client: httpx.AsyncClient, url: str, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(url, json=body, headers=tenant.write)
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


async def fail_three(
    client: httpx.AsyncClient, tenant: Tenant, cid: str, key: dict[str, str], first: datetime
) -> datetime:
    """Three failing runs a minute apart; with no run before them the status is error from the
    first one's completion (every finished run of the day fails, SPEC §3)."""
    for i in range(3):
        at = first + i * MINUTE
        await push(client, tenant, cid, key, started_at=at - MINUTE, completed_at=at, error="refused")
    return first


async def test_objectives__connection_crud__created_listed_read_and_deleted(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    cid = await add_connection(client, tenant)
    url = conn_objectives(tenant, cid)

    made = await add_objective(client, url, tenant, indicator="availability", target_percent=99.5)

    assert made["id"].startswith("obj_")
    assert made["connection_id"] == cid
    assert (made["indicator"], made["target_percent"], made["window_days"]) == ("availability", 99.5, 28)
    assert made["inherited"] is False
    listed = (await client.get(url, headers=tenant.read)).json()
    assert [o["id"] for o in listed] == [made["id"]]
    one = await client.get(url + made["id"] + "/", headers=tenant.read)
    assert one.status_code == 200
    assert one.json() == made
    deleted = await client.delete(url + made["id"] + "/", headers=tenant.write)
    assert deleted.status_code == 204
    assert (await client.get(url + made["id"] + "/", headers=tenant.read)).status_code == 404
    assert (await client.get(url, headers=tenant.read)).json() == []


async def test_objectives__organisation_default__applies_to_connections_without_their_own(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    plain = await add_connection(client, tenant, name="Plain")
    own = await add_connection(client, tenant, name="Own")
    default = await add_objective(
        client, org_objectives(tenant), tenant, indicator="freshness", target_percent=99, window_days=7
    )
    mine = await add_objective(
        client, conn_objectives(tenant, own), tenant, indicator="availability", target_percent=99.9
    )

    plain_list = (await client.get(conn_objectives(tenant, plain), headers=tenant.read)).json()
    own_list = (await client.get(conn_objectives(tenant, own), headers=tenant.read)).json()
    org_list = (await client.get(org_objectives(tenant), headers=tenant.read)).json()

    assert [(o["id"], o["inherited"], o["connection_id"]) for o in plain_list] == [
        (default["id"], True, None)
    ]
    assert [(o["id"], o["inherited"]) for o in own_list] == [(mine["id"], False)]
    assert [o["id"] for o in org_list] == [default["id"]]
    # The default's status reads for the connection it applies to, not for one with its own.
    status = f"{conn_objectives(tenant, plain)}{default['id']}/status/"
    assert (await client.get(status, headers=tenant.read)).status_code == 200
    elsewhere = f"{conn_objectives(tenant, own)}{default['id']}/status/"
    assert (await client.get(elsewhere, headers=tenant.read)).status_code == 404
    # A default is deleted at the organisation, not through a connection.
    through = await client.delete(f"{conn_objectives(tenant, plain)}{default['id']}/", headers=tenant.write)
    assert through.status_code == 404
    gone = await client.delete(f"{org_objectives(tenant)}{default['id']}/", headers=tenant.write)
    assert gone.status_code == 204
    assert (await client.get(conn_objectives(tenant, plain), headers=tenant.read)).json() == []


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"indicator": "latency", "target_percent": 99}, "indicator", "availability"),
        ({"indicator": "availability", "target_percent": 49.9}, "target_percent", "50"),
        ({"indicator": "availability", "target_percent": 100}, "target_percent", "99.999"),
        ({"indicator": "availability", "target_percent": "99"}, "target_percent", "number"),
        ({"indicator": "availability", "target_percent": 99, "window_days": 6}, "window_days", "7"),
        ({"indicator": "availability", "target_percent": 99, "window_days": 91}, "window_days", "90"),
        ({"indicator": "availability", "target_percent": 99, "window_days": "28"}, "window_days", "quotes"),
        ({"target_percent": 99}, "indicator", "required"),
        ({"indicator": "availability", "target_percent": 99, "owner": "me"}, "owner", "not permitted"),
    ],
)
async def test_objectives__bad_body__422_naming_the_field_and_the_bound(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str, words: str
) -> None:
    cid = await add_connection(client, tenant)

    for url in (conn_objectives(tenant, cid), org_objectives(tenant)):
        response = await client.post(url, json=body, headers=tenant.write)

        assert response.status_code == 422, response.text
        [problem] = response.json()["detail"]
        assert problem["loc"][:2] == ["body", field]
        assert words.lower() in problem["msg"].lower(), problem["msg"]


async def test_objectives__scopes__reader_reads_but_may_not_change(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    cid = await add_connection(client, tenant)
    made = await add_objective(
        client, org_objectives(tenant), tenant, indicator="availability", target_percent=99
    )

    for url in (conn_objectives(tenant, cid), org_objectives(tenant)):
        refused = await client.post(
            url, json={"indicator": "availability", "target_percent": 99}, headers=tenant.read
        )
        assert refused.status_code == 403, refused.text
        assert "write:alerts" in refused.text
    assert (
        await client.delete(f"{org_objectives(tenant)}{made['id']}/", headers=tenant.read)
    ).status_code == 403
    assert (await client.get(org_objectives(tenant), headers=tenant.read)).status_code == 200


async def test_objectives__other_organisation__sees_none_of_them(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    cid = await add_connection(client, tenant)
    own = await add_objective(
        client, conn_objectives(tenant, cid), tenant, indicator="availability", target_percent=99
    )
    default = await add_objective(
        client, org_objectives(tenant), tenant, indicator="freshness", target_percent=99
    )
    theirs = await add_connection(client, other_tenant)
    # Their own URLs with our ids, and our URLs with their credentials: not found either way.
    for url in (
        f"{conn_objectives(other_tenant, theirs)}{own['id']}/",
        f"{conn_objectives(other_tenant, theirs)}{own['id']}/status/",
        f"{org_objectives(other_tenant)}{default['id']}/",
        f"{conn_objectives(tenant, cid)}{own['id']}/",
        f"{conn_objectives(tenant, cid)}{own['id']}/status/",
        f"{org_objectives(tenant)}{default['id']}/",
    ):
        assert (await client.get(url, headers=other_tenant.read)).status_code == 404, url
        assert (await client.delete(url, headers=other_tenant.write)).status_code in (404, 405), url
    assert (await client.get(conn_objectives(other_tenant, theirs), headers=other_tenant.read)).json() == []
    assert (await client.get(org_objectives(other_tenant), headers=other_tenant.read)).json() == []
    assert (
        await client.get(f"{conn_objectives(tenant, cid)}{own['id']}/", headers=tenant.read)
    ).status_code == 200


async def test_objective_status__six_hours_of_error_in_a_week_at_99__budget_spent_and_remaining_exactly(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    now = clock.now
    cid = await add_connection(client, tenant)
    began = await fail_three(client, tenant, cid, service_key, now - timedelta(days=4))
    ended = began + 6 * HOUR
    await push(
        client, tenant, cid, service_key, started_at=ended - MINUTE, completed_at=ended, events_delivered=5
    )
    made = await add_objective(
        client,
        conn_objectives(tenant, cid),
        tenant,
        indicator="availability",
        target_percent=99,
        window_days=7,
    )

    response = await client.get(f"{conn_objectives(tenant, cid)}{made['id']}/status/", headers=tenant.read)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["budget_seconds"] == 6048.0  # 1 % of 604,800 seconds
    assert body["budget_spent_seconds"] == 21600.0  # 6 hours
    assert body["budget_remaining_percent"] == pytest.approx(100 * (6048 - 21600) / 6048, abs=1e-9)
    assert body["sli_percent"] == pytest.approx(100 * (604800 - 21600) / 604800, abs=1e-9)
    assert body["target_percent"] == 99.0
    assert body["burn_rates"] == {"1h": 0.0, "6h": 0.0, "24h": 0.0, "72h": 0.0}
    assert body["exhausted_at"] == "2026-04-20T12:00:00Z"  # already overspent
    assert body["window_start"] == "2026-04-13T12:00:00Z"
    assert body["as_of"] == "2026-04-20T12:00:00Z"


async def test_objective_status__error_going_on__burn_rates_and_exhaustion_from_the_last_day(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    now = clock.now
    cid = await add_connection(client, tenant)
    await fail_three(client, tenant, cid, service_key, now - 2 * HOUR)  # error for the last 2 hours
    made = await add_objective(
        client,
        conn_objectives(tenant, cid),
        tenant,
        indicator="availability",
        target_percent=99,
        window_days=28,
    )

    body = (
        await client.get(f"{conn_objectives(tenant, cid)}{made['id']}/status/", headers=tenant.read)
    ).json()

    budget = 24192  # 1 % of 28 days
    assert body["budget_seconds"] == budget
    assert body["budget_spent_seconds"] == 7200.0
    # All of the last hour is bad: 1 / 0.01; two of six hours; two of 24; two of 72.
    assert body["burn_rates"] == pytest.approx({"1h": 100.0, "6h": 100 / 3, "24h": 100 / 12, "72h": 100 / 36})
    # At the last day's rate (1/12 of each second is bad) the 16,992 seconds left last 203,904 s.
    remaining = budget - 7200
    assert body["exhausted_at"] == (now + timedelta(seconds=int(remaining * 12))).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


async def test_objective_status__maintenance_window__left_out_of_bad_and_counted_time(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    now = clock.now  # 12:00 UTC on a Monday
    cid = await add_connection(client, tenant)
    await fail_three(client, tenant, cid, service_key, now - 2 * HOUR)
    window = {
        "matchers": {"connection": cid},
        "time_zone": "UTC",
        "weekdays": [0, 1, 2, 3, 4, 5, 6],
        "start": "11:00",
        "duration_minutes": 30,
        "comment": "nightly vacuum",
    }
    made_window = await client.post(
        f"/api/v1/organisations/{tenant.id}/maintenance-windows/", json=window, headers=tenant.write
    )
    assert made_window.status_code == 201, made_window.text
    made = await add_objective(
        client,
        conn_objectives(tenant, cid),
        tenant,
        indicator="availability",
        target_percent=99,
        window_days=7,
    )

    body = (
        await client.get(f"{conn_objectives(tenant, cid)}{made['id']}/status/", headers=tenant.read)
    ).json()

    counted = 7 * 86400 - 7 * 1800  # seven half-hours of maintenance in the week
    assert body["budget_seconds"] == pytest.approx(counted * 0.01, abs=1e-9)
    assert body["budget_spent_seconds"] == 7200.0 - 1800
    # The last hour: 30 minutes counted, all bad.
    assert body["burn_rates"]["1h"] == pytest.approx(100.0)
    assert body["burn_rates"]["6h"] == pytest.approx((5400 / (6 * 3600 - 1800)) / 0.01)


async def test_objective_status__freshness__late_time_past_the_sla(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    now = clock.now
    clock.now = now - timedelta(days=3)  # created three days ago
    cid = await add_connection(client, tenant, freshness_sla_seconds=3600)
    clock.now = now
    # Delivered at -3d+30m and at -2d; late from -3d+1h30m to -2d (22.5 h), and from -2d+1h on (47 h).
    for at in (now - timedelta(days=3) + 30 * MINUTE, now - timedelta(days=2)):
        await push(
            client, tenant, cid, service_key, started_at=at - MINUTE, completed_at=at, events_delivered=7
        )
    made = await add_objective(
        client, conn_objectives(tenant, cid), tenant, indicator="freshness", target_percent=95, window_days=7
    )

    body = (
        await client.get(f"{conn_objectives(tenant, cid)}{made['id']}/status/", headers=tenant.read)
    ).json()

    assert body["budget_spent_seconds"] == (22.5 + 47) * 3600
    assert body["burn_rates"]["24h"] == pytest.approx(1 / 0.05)
    assert body["exhausted_at"] == "2026-04-20T12:00:00Z"


async def test_objective_status__paused_connection__never_late(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    clock.now -= timedelta(days=3)
    cid = await add_connection(client, tenant, state="paused", freshness_sla_seconds=3600)
    clock.now += timedelta(days=3)
    made = await add_objective(
        client, conn_objectives(tenant, cid), tenant, indicator="freshness", target_percent=99
    )

    body = (
        await client.get(f"{conn_objectives(tenant, cid)}{made['id']}/status/", headers=tenant.read)
    ).json()

    assert (body["sli_percent"], body["budget_spent_seconds"], body["exhausted_at"]) == (100.0, 0.0, None)
    assert body["budget_remaining_percent"] == 100.0


def test_clock_is_a_monday_noon() -> None:
    assert datetime(2026, 4, 20, 12, tzinfo=UTC).weekday() == 0
