"""The lean path (conventions/lean.py) answers exactly as the declared routes do.

Every request is sent twice on the same database: to the app as built, whose hottest
operations go the lean way, and to the same app with its lean routes taken out, where every
request goes through FastAPI's dependencies. Status, headers and body must be equal byte for
byte, for ordinary requests and for every kind of malformed one.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.responses import Response

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.conventions.lean import LeanCall, LeanRoute
from pipepulse.db.session import Database
from tests.conftest import SITE, FrozenClock, Tenant, iso, property_timeout

PENDING = [f"run{i}" for i in range(8)]


def declared_only(app: FastAPI) -> FastAPI:
    app.router.routes[:] = [r for r in app.router.routes if not isinstance(r, LeanRoute)]
    return app


@pytest.fixture
async def declared(settings: Settings, db: Database, clock: FrozenClock) -> Any:
    app = declared_only(create_app(settings, clock=clock, database=db))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as c:
        yield c


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> dict[str, Any]:
    made = await client.post(
        tenant.connections_url(),
        json={"name": "W", "type": "snowflake", "state": "connected", "event_types": ["a", "b"]},
        headers=tenant.write,
    )
    assert made.status_code == 201, made.text
    connection_id = made.json()["id"]
    started = clock.now.replace(hour=11)
    for run_id in PENDING:
        body = {"run_id": run_id, "started_at": iso(started)}
        seeded = await client.post(
            tenant.connection_url(connection_id) + "metrics/", json=body, headers=service_key
        )
        assert seeded.status_code == 201, seeded.text
    return {"tenant": tenant, "other": other_tenant, "key": service_key, "connection_id": connection_id}


def report(clock: FrozenClock, **changes: Any) -> dict[str, Any]:
    return {"completed_at": iso(clock.now.replace(hour=11, minute=30)), "events_delivered": 3, **changes}


def bodies(clock: FrozenClock) -> list[Any]:
    """PATCH bodies, good and bad (encoded later, or raw bytes as sent)."""
    return [
        report(clock),
        report(clock, events_delivered=4),
        report(clock, events_by_type={"a": 1, "b": 2}),
        report(clock, events_by_type={"a": 1, "c": 2}),  # a type the connection lacks: 422
        report(clock, events_by_type={"a": 1}),  # does not sum: 422
        report(clock, events_delivered=-1),
        report(clock, events_delivered="3"),
        report(clock, completed_at=iso(clock.now.replace(hour=10))),  # before started_at
        report(clock, completed_at=iso(clock.now.replace(hour=13))),  # in the future
        report(clock, unknown=1),
        {"events_delivered": 3},
        None,
        [],
        b"{",
        b"",
        b'{"completed_at": "\xff"}',
        b"[" * 5000,
    ]


def batch_bodies(world: dict[str, Any], clock: FrozenClock) -> list[Any]:
    tenant: Tenant = world["tenant"]
    item = {"organisation_id": tenant.id, "connection_id": world["connection_id"]}
    return [
        [{**item, **report(clock), "run_id": PENDING[0]}, {**item, **report(clock), "run_id": PENDING[1]}],
        [{**item, **report(clock, events_delivered=9), "run_id": PENDING[2]}],
        [{**item, **report(clock), "run_id": "nope"}, {**item, "run_id": PENDING[3]}],
        [{**item, **report(clock), "organisation_id": world["other"].id, "run_id": PENDING[4]}],
        [{**item, **report(clock), "run_id": PENDING[5]}] * 2,
        [],
        [1, "x", None],
        {"not": "a list"},
        b"[",
    ]


def encode(body: Any) -> bytes | None:
    if isinstance(body, bytes):
        return body
    return json.dumps(body).encode()


async def both(
    client: httpx.AsyncClient,
    declared: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any,
) -> None:
    content = None if body is None else encode(body)
    lean = await client.request(method, url, headers=headers, content=content)
    plain = await declared.request(method, url, headers=headers, content=content)
    assert (lean.status_code, lean.content) == (plain.status_code, plain.content)
    assert sorted(lean.headers.multi_items()) == sorted(plain.headers.multi_items())
    assert lean.status_code != 500, lean.text


@property_timeout(seconds_per_example=2.0)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_lean_path__any_request__answers_as_the_declared_route(
    client: httpx.AsyncClient,
    declared: httpx.AsyncClient,
    world: dict[str, Any],
    clock: FrozenClock,
    data: st.DataObject,
) -> None:
    tenant: Tenant = world["tenant"]
    org = data.draw(
        st.sampled_from([str(tenant.id), str(world["other"].id), "0", "0" + str(tenant.id), "9" * 12])
    )
    connection_id = data.draw(st.sampled_from([world["connection_id"], "wc_unknown", "a.b"]))
    prefix = f"/api/v1/organisations/{org}/integrations/warehouse-connections/{connection_id}/"
    operation = data.draw(st.sampled_from(["telemetry", "patch", "batch"]))
    query = data.draw(st.sampled_from(["", "", "?x=1"]))
    slash = data.draw(st.sampled_from(["/", "/", ""]))
    bearer = {
        "telemetry": [tenant.read["Authorization"], tenant.write["Authorization"]],
        "patch": [world["key"]["Authorization"]],
        "batch": [world["key"]["Authorization"]],
    }[operation]
    headers: dict[str, str] = {}
    authorization = data.draw(
        st.sampled_from([*bearer, *bearer, world["key"]["Authorization"], tenant.read["Authorization"], None])
        | st.sampled_from(["Bearer ", "Basic abc", "Bearer pps_0123456789ab_nope", "bearer " + bearer[0][7:]])
    )
    if authorization is not None:
        headers["Authorization"] = authorization
    content_type = data.draw(
        st.sampled_from(
            ["application/json", "application/json", "application/json; charset=utf-8", "text/plain", None]
        )
    )
    if content_type is not None:
        headers["Content-Type"] = content_type
    if operation == "telemetry":
        headers.update(data.draw(st.sampled_from([{}, {}, {"If-None-Match": "*"}, {"If-None-Match": '"x"'}])))
        body = data.draw(st.sampled_from([None, None, b"{}"]))
        url = (prefix + "telemetry" + slash + query).replace("//", "/")
        await both(client, declared, "GET", url, headers, body)
    elif operation == "patch":
        run_id = data.draw(st.sampled_from([*PENDING, "nope", "x.y"]))
        body = data.draw(st.sampled_from(bodies(clock)))
        url = prefix + f"metrics/{run_id}" + slash + query
        await both(client, declared, "PATCH", url, headers, body)
    else:
        body = data.draw(st.sampled_from(batch_bodies(world, clock)))
        await both(client, declared, "POST", "/api/v1/runs/reports" + slash + query, headers, body)


async def test_lean_path__ordinary_requests__answered_by_the_lean_handlers(
    app: FastAPI, client: httpx.AsyncClient, world: dict[str, Any], clock: FrozenClock
) -> None:
    answered: list[tuple[str, int | None]] = []
    for route in app.router.routes:
        if isinstance(route, LeanRoute):
            handler = route.handler

            async def recording(
                call: LeanCall, handler: Any = handler, name: str = route.route.name
            ) -> Response | None:
                answer = await handler(call)
                answered.append((name, None if answer is None else answer.status_code))
                return answer

            route.handler = recording
    tenant: Tenant = world["tenant"]
    url = tenant.connection_url(world["connection_id"])
    key = world["key"]
    assert (await client.get(url + "telemetry/", headers=tenant.read)).status_code == 200
    assert (
        await client.patch(url + f"metrics/{PENDING[0]}/", json=report(clock), headers=key)
    ).status_code == 204
    item = {"organisation_id": tenant.id, "connection_id": world["connection_id"], "run_id": PENDING[1]}
    batch = await client.post("/api/v1/runs/reports/", json=[{**item, **report(clock)}], headers=key)
    assert batch.json() == {"results": [{"index": 0, "status": 204}]}
    # A request the lean handler declines is still answered, by the declared route.
    refused = await client.patch(url + f"metrics/{PENDING[2]}/", json={"events_delivered": 1}, headers=key)
    assert refused.status_code == 422
    assert answered == [
        ("get_telemetry", 200),
        ("report_run", 204),
        ("report_runs", 200),
        ("report_run", None),
    ]


async def test_lean_path__openapi__same_document_as_without_it(
    settings: Settings, db: Database, app: FastAPI
) -> None:
    plain = declared_only(create_app(settings, database=db))
    assert app.openapi() == plain.openapi()
