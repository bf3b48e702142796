"""SPEC §4.6: every bad input is a 422 that says what to fix, and nothing is written."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.session import Database
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
    ("boolean count", {"events_delivered": True}, "events_delivered"),
    ("epoch timestamp", {"completed_at": 1776682800}, "ISO 8601"),
    ("epoch timestamp text", {"completed_at": "1776682800"}, "ISO 8601"),
    ("date without time", {"completed_at": "2026-04-20"}, "ISO 8601"),
    ("space for T", {"completed_at": "2026-04-20 11:00:00Z"}, "ISO 8601"),
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
    ("sla as a string", {"freshness_sla_seconds": "60"}, "freshness_sla_seconds"),
    ("interval as a boolean", {"schedule_interval_seconds": True}, "schedule_interval_seconds"),
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


# Strict parsing (docs/api.md "Parsing rules"): a value is taken only in its documented form.


@pytest.fixture
def app(settings: Settings, db: Database, clock: FrozenClock) -> Any:
    # Alert channels here point at loopback addresses, which only this setting allows.
    return create_app(
        settings.model_copy(update={"alerts_allow_private_urls": True}), clock=clock, database=db
    )


async def _channel(client: httpx.AsyncClient, tenant: Tenant) -> str:
    response = await client.post(
        f"/api/v1/organisations/{tenant.id}/alert-channels/",
        json={"name": "On-call", "kind": "webhook", "url": "http://127.0.0.1:9/hook"},
        headers=tenant.write,
    )
    assert response.status_code == 201, response.text
    channel_id: str = response.json()["id"]
    return channel_id


@pytest.mark.parametrize("value", ["5", True, 5.5])
async def test_alert_rule__min_duration_not_a_json_integer__422_and_no_rule(
    client: httpx.AsyncClient, tenant: Tenant, value: Any
) -> None:
    channel_id = await _channel(client, tenant)
    url = f"/api/v1/organisations/{tenant.id}/alert-rules/"
    body = {"channel_id": channel_id, "events": ["status:error"], "min_duration_seconds": value}
    response = await client.post(url, json=body, headers=tenant.write)
    assert response.status_code == 422, response.text
    assert "min_duration_seconds" in _messages(response.json())
    assert (await client.get(url, headers=tenant.read)).json()["total"] == 0


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("1733000000", "ISO 8601"),
        ("2026-04-20", "ISO 8601"),
        ("2026-04-20T11:00:00", "no timezone"),
        ("2026-04-20T11:00Z", "ISO 8601"),
    ],
)
async def test_status_history__from_not_iso_8601_with_zone__422(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any], value: str, hint: str
) -> None:
    response = await client.get(
        tenant.connection_url(connection["id"]) + "status-history/",
        params={"from": value},
        headers=tenant.read,
    )
    assert response.status_code == 422, response.text
    messages = _messages(response.json())
    assert hint in messages
    assert "query.from" in messages


async def test_query__repeated_single_valued_parameter__422_naming_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.get(
        tenant.connections_url(), params=[("page", "1"), ("page", "2")], headers=tenant.read
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["query", "page"]
    assert "given 2 times" in detail[0]["msg"]


@pytest.mark.parametrize("page", ["1.0", "+1", "01", " 1", "1e0", "true"])
async def test_query__integer_not_in_canonical_form__422(
    client: httpx.AsyncClient, tenant: Tenant, page: str
) -> None:
    response = await client.get(tenant.connections_url(), params={"page": page}, headers=tenant.read)
    assert response.status_code == 422, response.text
    assert "plain decimal digits" in _messages(response.json())


@pytest.mark.parametrize("organisation_pk", ["1.0", "+1", "01", "1e0"])
async def test_paths__organisation_pk_not_canonical__422_naming_it(
    client: httpx.AsyncClient, tenant: Tenant, organisation_pk: str
) -> None:
    pk = organisation_pk.replace("1", str(tenant.id))  # the tenant's own id, spelled oddly
    response = await client.get(
        f"/api/v1/organisations/{pk}/integrations/warehouse-connections/", headers=tenant.read
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["path", "organisation_pk"]
    assert "plain decimal digits" in detail[0]["msg"]


# Bodies (docs/api.md "Parsing rules"): labelled JSON, UTF-8, well-formed; else an answer saying where.


@pytest.mark.parametrize(
    ("content_type", "hint"),
    [
        (None, "no Content-Type header"),
        ("text/plain", "'text/plain' is not accepted"),
        ("application/x-www-form-urlencoded", "is not accepted"),
        ("application/json; charset=latin-1", "charset 'latin-1'"),
    ],
)
async def test_bodies__not_labelled_json__415_naming_the_header(
    client: httpx.AsyncClient,
    tenant: Tenant,
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
    content_type: str | None,
    hint: str,
) -> None:
    headers = dict(service_key)
    if content_type is not None:
        headers["content-type"] = content_type
    body = b'{"started_at": "%s"}' % iso(clock.now).encode()
    response = await client.post(runs_url, content=body, headers=headers)
    assert response.status_code == 415, response.text
    detail = response.json()["detail"]
    assert hint in detail
    assert "Content-Type: application/json" in detail
    assert (await client.get(runs_url, headers=tenant.read)).json()["total"] == 0


async def test_bodies__json_labelled_with_charset_utf8__accepted(
    client: httpx.AsyncClient, runs_url: str, service_key: dict[str, str], clock: FrozenClock
) -> None:
    body = b'{"started_at": "%s"}' % iso(clock.now).encode()
    headers = {**service_key, "content-type": "application/json; charset=UTF-8"}
    assert (await client.post(runs_url, content=body, headers=headers)).status_code == 201


async def test_bodies__not_utf8__422_with_line_and_column(
    client: httpx.AsyncClient, runs_url: str, service_key: dict[str, str]
) -> None:
    body = b'{\n  "run_id": "caf\xe9"}'
    response = await client.post(
        runs_url, content=body, headers={**service_key, "content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body"]
    assert "not valid UTF-8: byte 0xe9 at line 2, column 17" in item["msg"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"{not json", "line 1, column 2"),
        (b'{\n  "run_id": "r1",\n  "started_at": }', "line 3, column 17"),
        (b'{"run_id": "r1"} trailing', "line 1, column 18"),
    ],
)
async def test_bodies__malformed_json__422_in_words_with_line_and_column(
    client: httpx.AsyncClient, runs_url: str, service_key: dict[str, str], body: bytes, where: str
) -> None:
    response = await client.post(
        runs_url, content=body, headers={**service_key, "content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body"]
    assert item["msg"].startswith("the body is not valid JSON: ")
    assert where in item["msg"]


# Allow (RFC 9110): every method the path answers, on a 405 and in answer to OPTIONS.


async def test_methods__405_and_options__allow_lists_every_method_of_the_path(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    checked = 0
    for template, item in document["paths"].items():
        declared = {method.upper() for method in item if method in ("get", "post", "put", "patch", "delete")}
        path = re.sub(r"\{[^}]+\}", "1", template)
        expected = ", ".join(sorted(declared | {"OPTIONS"}))
        options = await client.options(path, headers=tenant.read)
        assert options.status_code == 204, (template, options.text)
        assert options.headers["allow"] == expected, template
        unanswered = next(m for m in ("PUT", "PATCH", "DELETE", "POST") if m not in declared)
        response = await client.request(unanswered, path, headers=tenant.write)
        assert response.status_code == 405, (template, unanswered, response.text)
        assert response.headers["allow"] == expected, (template, unanswered)
        assert f"this path answers {expected}" in response.json()["detail"]
        checked += 1
    assert checked >= 15


async def test_methods__put_on_a_connection__allow_names_get_patch_and_delete(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]
) -> None:
    response = await client.put(tenant.connection_url(connection["id"]), json={}, headers=tenant.write)
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, OPTIONS, PATCH"


async def test_alert_rule__identical_rule__409_and_one_rule_kept(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]
) -> None:
    channel_id = await _channel(client, tenant)
    url = f"/api/v1/organisations/{tenant.id}/alert-rules/"
    body = {
        "channel_id": channel_id,
        "events": ["status:error", "late"],
        "connection_ids": [connection["id"]],
        "min_duration_seconds": 60,
    }
    assert (await client.post(url, json=body, headers=tenant.write)).status_code == 201
    same = {**body, "events": ["late", "status:error"]}  # the same rule, events in another order
    response = await client.post(url, json=same, headers=tenant.write)
    assert response.status_code == 409, response.text
    assert "identical rule already exists" in response.json()["detail"]
    other = {**body, "min_duration_seconds": 120}  # a different hold is a different rule
    assert (await client.post(url, json=other, headers=tenant.write)).status_code == 201
    assert (await client.get(url, headers=tenant.read)).json()["total"] == 2
