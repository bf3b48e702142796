"""SPEC §4.6: every bad input is a 422 that says what to fix, and nothing is written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import FrozenClock, Tenant, iso


def _messages(body: dict[str, Any]) -> str:
    detail = body["detail"]
    assert isinstance(detail, list), body
    assert detail, body
    for item in detail:
        assert set(item) >= {"loc", "msg", "type"}
    return " | ".join(str(item["msg"]) + " @ " + ".".join(map(str, item["loc"])) for item in detail)


def _report(clock: FrozenClock, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "completed_at": iso(clock.now),
        "events_delivered": 10,
        "batches_dlq": 0,
        "error": None,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v != "<drop>"}


BAD_REPORTS = [
    ("unknown field", {"rows": 3}, "rows"),
    ("negative events", {"events_delivered": -1}, "events_delivered"),
    ("negative dlq", {"batches_dlq": -2}, "batches_dlq"),
    ("float count", {"events_delivered": 1.5}, "events_delivered"),
    ("string count", {"events_delivered": "10"}, "events_delivered"),
    ("breakdown does not sum", {"events_by_type": {"evaluations": 3, "custom_events": 3}}, "sums to 6"),
    ("unknown event type", {"events_by_type": {"evaluations": 5, "clicks": 5}}, "clicks"),
    ("malformed timestamp", {"completed_at": "yesterday"}, "completed_at"),
    ("naive timestamp", {"completed_at": "2026-04-20T11:00:00"}, "timezone"),
    ("missing completed_at", {"completed_at": "<drop>"}, "completed_at"),
    ("timestamp off the calendar", {"completed_at": "0001-01-01T00:00:00+01:00"}, "between 1970"),
    ("negative latency", {"latency_ms": -5}, "latency_ms"),
    ("huge count", {"events_delivered": 2**70}, "events_delivered"),
    ("NUL in error", {"error": "bad\u0000byte"}, "NUL"),
]


@pytest.mark.parametrize(("case", "changes", "hint"), BAD_REPORTS, ids=[c[0] for c in BAD_REPORTS])
async def test_report__bad_body__422_with_hint_and_run_untouched(
    client: httpx.AsyncClient,
    tenant: Tenant,
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
    case: str,
    changes: dict[str, Any],
    hint: str,
) -> None:
    seeded = await client.post(
        runs_url,
        json={"run_id": "r1", "started_at": iso(clock.now - timedelta(minutes=1))},
        headers=service_key,
    )
    assert seeded.status_code == 201
    response = await client.patch(f"{runs_url}r1/", json=_report(clock, **changes), headers=service_key)
    assert response.status_code == 422, (case, response.text)
    assert hint in _messages(response.json())
    run = (await client.get(f"{runs_url}r1/", headers=tenant.read)).json()
    assert run["outcome"] == "pending"
    assert run["completed_at"] is None


async def test_report__completed_before_started__422_nothing_written(
    client: httpx.AsyncClient, tenant: Tenant, runs_url: str, service_key: dict[str, str], clock: FrozenClock
) -> None:
    await client.post(runs_url, json={"run_id": "r1", "started_at": iso(clock.now)}, headers=service_key)
    response = await client.patch(
        f"{runs_url}r1/",
        json=_report(clock, completed_at=iso(clock.now - timedelta(seconds=1))),
        headers=service_key,
    )
    assert response.status_code == 422
    assert "before the run's started_at" in _messages(response.json())
    assert (await client.get(f"{runs_url}r1/", headers=tenant.read)).json()["outcome"] == "pending"


@pytest.mark.parametrize(
    ("ahead", "status"), [(timedelta(minutes=5), 204), (timedelta(minutes=5, seconds=1), 422)]
)
async def test_report__completed_in_future__allowed_up_to_5_minutes(
    client: httpx.AsyncClient,
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
    ahead: timedelta,
    status: int,
) -> None:
    await client.post(runs_url, json={"run_id": "r1", "started_at": iso(clock.now)}, headers=service_key)
    response = await client.patch(
        f"{runs_url}r1/", json=_report(clock, completed_at=iso(clock.now + ahead)), headers=service_key
    )
    assert response.status_code == status
    if status == 422:
        assert "more than 5 minutes in the future" in _messages(response.json())


BAD_CREATES = [
    ("bad run id", {"run_id": "has space"}, "run_id"),
    ("long run id", {"run_id": "x" * 65}, "run_id"),
    ("completion without completed_at", {"events_delivered": 5}, "without completed_at"),
    ("unknown field", {"loader": "x"}, "loader"),
    ("started in the future", {"started_at": "2026-04-20T12:06:00Z"}, "future"),
    ("malformed started_at", {"started_at": "2026-13-01T00:00:00Z"}, "started_at"),
]


@pytest.mark.parametrize(("case", "changes", "hint"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
async def test_push__bad_body__422_and_no_run_created(
    client: httpx.AsyncClient,
    tenant: Tenant,
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
    case: str,
    changes: dict[str, Any],
    hint: str,
) -> None:
    body = {"started_at": iso(clock.now - timedelta(minutes=1)), **changes}
    response = await client.post(runs_url, json=body, headers=service_key)
    assert response.status_code == 422, (case, response.text)
    assert hint in _messages(response.json())
    assert (await client.get(runs_url, headers=tenant.read)).json()["total"] == 0


@pytest.mark.parametrize(
    "path_suffix",
    ["metrics/bad%20id/", "metrics/" + "r" * 65 + "/"],
)
async def test_runs__malformed_run_id_in_path__422(
    client: httpx.AsyncClient, runs_url: str, tenant: Tenant, connection: dict[str, Any], path_suffix: str
) -> None:
    response = await client.get(tenant.connection_url(connection["id"]) + path_suffix, headers=tenant.read)
    assert response.status_code == 422


@pytest.mark.parametrize("organisation_pk", ["abc", "0", "-1", "99999999999999999999"])
async def test_paths__malformed_organisation_pk__422_never_500(
    client: httpx.AsyncClient, tenant: Tenant, organisation_pk: str
) -> None:
    response = await client.get(
        f"/api/v1/organisations/{organisation_pk}/integrations/warehouse-connections/", headers=tenant.read
    )
    assert response.status_code == 422


BAD_CONNECTIONS = [
    ("unknown type", {"type": "oracle"}, "type"),
    ("unknown field", {"colour": "red"}, "colour"),
    ("interval too short", {"schedule_interval_seconds": 59}, "schedule_interval_seconds"),
    ("reserved event type", {"event_types": ["total"]}, "reserved"),
    ("bad event type", {"event_types": ["Evaluations!"]}, "must match"),
    ("duplicate event types", {"event_types": ["a", "a"]}, "unique"),
    ("empty name", {"name": "  "}, "name"),
    ("secret in config", {"config": {"warehouse": {"password": "hunter2"}}}, "config.warehouse.password"),
    ("config not an object", {"config": [1, 2]}, "config"),
    ("unknown state", {"state": "exploded"}, "state"),
    ("NUL in name", {"name": "a\u0000b"}, "NUL"),
    ("NUL in config", {"config": {"k": ["x\u0000"]}}, "NUL"),
]


@pytest.mark.parametrize(("case", "changes", "hint"), BAD_CONNECTIONS, ids=[c[0] for c in BAD_CONNECTIONS])
async def test_create_connection__bad_body__422_and_nothing_created(
    client: httpx.AsyncClient, tenant: Tenant, case: str, changes: dict[str, Any], hint: str
) -> None:
    body = {"name": "warehouse", "type": "snowflake", **changes}
    response = await client.post(tenant.connections_url(), json=body, headers=tenant.write)
    assert response.status_code == 422, (case, response.text)
    assert hint in _messages(response.json())
    assert (await client.get(tenant.connections_url(), headers=tenant.read)).json()["total"] == 0


async def test_bodies__not_json__422(
    client: httpx.AsyncClient, runs_url: str, service_key: dict[str, str]
) -> None:
    response = await client.post(
        runs_url, content=b"{not json", headers={**service_key, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert _messages(response.json())


@pytest.mark.parametrize("params", [{"page": "100000000000000000000"}, {"page": "0"}, {"size": "501"}])
async def test_lists__out_of_range_pagination__422_never_500(
    client: httpx.AsyncClient, tenant: Tenant, runs_url: str, params: dict[str, str]
) -> None:
    for url in ("/api/v1/organisations/", tenant.connections_url(), runs_url):
        response = await client.get(url, params=params, headers=tenant.read)
        assert response.status_code == 422, url
