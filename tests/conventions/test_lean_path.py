"""The lean path (conventions/lean.py) answers exactly as the declared routes do.

Every request is sent twice on the same database: to the app as built, whose hottest
operations go the lean way, and to the same app with its lean routes taken out, where every
request goes through FastAPI's dependencies. Status, headers and body must be equal byte for
byte, for ordinary requests and for every kind of malformed one.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.responses import Response

from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.conventions import lean
from pipepulse.conventions.lean import LeanCall, LeanRoute
from pipepulse.db.session import Database
from pipepulse.history import router as history_router
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
    # Finished runs of the days before: a status history with an incident and several intervals.
    for day in range(1, 4):
        for hour in range(0, 24, 3):
            at = clock.now - timedelta(days=day, hours=hour)
            body = {
                "run_id": f"done{day}_{hour}",
                "started_at": iso(at - timedelta(minutes=5)),
                "completed_at": iso(at),
                "events_delivered": 5,
                **({"error": "warehouse unreachable"} if day == 2 and hour < 12 else {}),
            }
            pushed = await client.post(
                tenant.connection_url(connection_id) + "metrics/", json=body, headers=service_key
            )
            assert pushed.status_code == 201, pushed.text
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


def history_queries(clock: FrozenClock) -> list[str]:
    """Status-history query strings (``from``, ``to``), good and bad, as sent."""
    day = iso(clock.now - timedelta(days=1))
    week = iso(clock.now - timedelta(days=7))
    now = iso(clock.now)
    long_ago = iso(clock.now - timedelta(days=95))
    return [
        "",
        f"?from={week}&to={now}",
        f"?from={day}",
        f"?to={day}",
        f"?to={now}&from={week}",
        "?from=2026-04-19T14:00:00.5%2B02:00",  # an offset, its "+" encoded
        "?from=2026-04-19T14:00:00+02:00",  # "+" unencoded: a space, 422
        "?from=2026-04-19t12:00:00z",
        "?%66rom=2026-04-19T12:00:00Z",  # the name percent-encoded
        f"?from={week}&to={now}&",
        "?from=yesterday",
        "?from=2026-04-19T12:00:00",  # no zone
        "?from=2026-02-30T00:00:00Z",  # no such day
        "?from=1969-12-31T00:00:00Z",  # outside the calendar's range
        "?from=2026-04-19T12:00:00Z%0A",
        "?from=",
        "?from",
        "?to=2026-04-21T12:00:00Z",  # in the future
        f"?from={now}&to={day}",  # from after to
        "?from=2026-01-01T00:00:00Z",  # over 90 days, before the runs kept
        f"?from={long_ago}&to={iso(clock.now - timedelta(days=10))}",  # before the runs kept
        f"?from={day}&from={day}",  # repeated
        f"?from={day}&to={now}&to={now}",
        f"?from={day}&x=1",  # unknown
        "?From=2026-04-19T12:00:00Z",
        "?size=5",
    ]


def metrics_queries(clock: FrozenClock) -> list[str]:
    """Connection-metrics query strings (time type, unit, interval, range), good and bad, as sent."""
    day = iso(clock.now - timedelta(days=1))
    week = iso(clock.now - timedelta(days=7))
    now = iso(clock.now)
    return [
        "",
        "?time_type=latest",
        "?time_type=timeseries",
        f"?time_type=timeseries&time_unit=hour&timestamp_from={week}",
        f"?time_unit=minute&time_interval=15&time_type=timeseries&timestamp_from={day}",
        f"?time_type=timeseries&time_unit=day&timestamp_from={week}&timestamp_to={now}",
        f"?time_type=timesummary&timestamp_from={week}&timestamp_to={day}",
        "?time_type=timeseries&time_interval=2&time_unit=hour&timestamp_from=2026-04-19T14:00:00.5%2B02:00",
        "?time_type=timeseries&time_interval=%2B3",  # "+3"
        "?time_type=timeseries&time_interval=03",
        "?time_type=timeseries&time_interval= 3",
        "?time_type=timeseries&time_interval=3.0",
        "?time_interval=0",
        "?time_interval=10001",
        "?time_interval=",
        "?time_type=Timeseries",
        "?time_type=",
        "?time_unit=fortnight",
        f"?time_type=timeseries&time_unit=minute&timestamp_from={iso(clock.now - timedelta(days=30))}",
        "?timestamp_from=yesterday",
        "?timestamp_from=2026-04-19T12:00:00",  # no zone
        "?timestamp_to=2026-04-21T12:00:00Z",  # in the future
        f"?timestamp_from={now}&timestamp_to={day}",  # from after to
        "?timestamp_from=2026-01-01T00:00:00Z&time_type=timesummary",  # before the rollups kept
        "?time_type=latest&time_type=latest",  # repeated
        "?time_type=timeseries&x=1",  # unknown
        "?Time_type=timeseries",
    ]


async def both(
    client: httpx.AsyncClient,
    declared: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any,
) -> httpx.Response:
    content = None if body is None else encode(body)
    lean = await client.request(method, url, headers=headers, content=content)
    plain = await declared.request(method, url, headers=headers, content=content)
    assert (lean.status_code, lean.content) == (plain.status_code, plain.content)
    assert sorted(lean.headers.multi_items()) == sorted(plain.headers.multi_items())
    assert lean.status_code != 500, lean.text
    return lean


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
    operation = data.draw(st.sampled_from(["telemetry", "patch", "batch", "history", "metrics"]))
    queries = {"history": history_queries(clock), "metrics": metrics_queries(clock)}
    query = data.draw(st.sampled_from(queries.get(operation, ["", "", "?x=1"])))
    slash = data.draw(st.sampled_from(["/", "/", ""]))
    bearer = {
        "telemetry": [tenant.read["Authorization"], tenant.write["Authorization"]],
        "history": [tenant.read["Authorization"], tenant.write["Authorization"]],
        "metrics": [tenant.read["Authorization"], tenant.write["Authorization"]],
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
    elif operation == "history":
        body = data.draw(st.sampled_from([None, None, b"{}"]))
        await both(client, declared, "GET", prefix + "status-history" + slash + query, headers, body)
    elif operation == "metrics":
        body = data.draw(st.sampled_from([None, None, b"{}"]))
        url = prefix + "telemetry/metrics" + slash + query
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
    history = url + "status-history/"
    week = {"from": iso(clock.now - timedelta(days=7)), "to": iso(clock.now)}
    assert (await client.get(history, params=week, headers=tenant.read)).status_code == 200
    assert (await client.get(history, headers=tenant.read)).status_code == 200
    series = {"time_type": "timeseries", "timestamp_from": iso(clock.now - timedelta(days=2))}
    answer = await client.get(url + "telemetry/metrics/", params=series, headers=tenant.read)
    assert answer.status_code == 200
    # A request the lean handler declines is still answered, by the declared route.
    refused = await client.patch(url + f"metrics/{PENDING[2]}/", json={"events_delivered": 1}, headers=key)
    assert refused.status_code == 422
    # One the lean route refuses never reaches its handler: an unknown parameter, a value the
    # declared field does not accept.
    refused = await client.get(history, params={"from": "yesterday"}, headers=tenant.read)
    assert refused.status_code == 422
    refused = await client.get(history, params={**week, "x": "1"}, headers=tenant.read)
    assert refused.status_code == 422
    refused = await client.get(url + "telemetry/metrics/", params={"time_interval": "0"}, headers=tenant.read)
    assert refused.status_code == 422
    assert answered == [
        ("get_telemetry", 200),
        ("report_run", 204),
        ("report_runs", 200),
        ("get_status_history", 200),
        ("get_status_history", 200),
        ("get_connection_metrics", 200),
        ("report_run", None),
    ]


@pytest.fixture
async def strangers(
    client: httpx.AsyncClient, world: dict[str, Any], db: Database, clock: FrozenClock
) -> Any:
    """A token of the tenant without the read scope, and a paused connection of the other tenant."""
    tenant: Tenant = world["tenant"]
    other: Tenant = world["other"]
    async with db.session(write=True) as session:
        no_read = await auth_service.create_token(
            session, organisation_id=tenant.id, scopes=[scopes.WRITE_CONNECTIONS], name="nr", now=clock.now
        )
    made = await client.post(
        other.connections_url(), json={"name": "O", "type": "duckdb", "state": "paused"}, headers=other.write
    )
    assert made.status_code == 201, made.text
    return {"no_read": {"Authorization": f"Bearer {no_read.token}"}, "others_connection": made.json()["id"]}


async def codes_as_declared(
    client: httpx.AsyncClient,
    declared: httpx.AsyncClient,
    url: str,
    queries: list[str],
    *credentials: dict[str, str],
) -> set[int]:
    """Every query, with and without the trailing slash, under each credential, answered alike
    on both paths (``both`` asserts it); the status codes seen."""
    seen = set()
    for query in queries:
        for slash in ("/", ""):
            for headers in credentials:
                answer = await both(client, declared, "GET", url + slash + query, headers, None)
                seen.add(answer.status_code)
    return seen


async def refusals_as_declared(
    client: httpx.AsyncClient,
    declared: httpx.AsyncClient,
    world: dict[str, Any],
    strangers: dict[str, Any],
    operation: str,
    queries: tuple[str, str, str],
) -> None:
    """Each refusal before the query's — credential, scope, connection, path — for a good query,
    a bad one and one the operation refuses after the connection, on both apps alike; then the
    good query sent with a body, and as HEAD."""
    tenant: Tenant = world["tenant"]
    other: Tenant = world["other"]
    connection_id = world["connection_id"]
    good, bad, _ = queries
    credentials: list[dict[str, str] | None] = [
        strangers["no_read"],  # 403: no read scope
        world["key"],  # 403: a service key
        None,  # 401
        {"Authorization": "Bearer pps_0123456789ab_nope"},  # 401
        {"Authorization": "Basic abc"},  # 401
    ]
    paths = [
        tenant.connection_url(connection_id),
        other.connection_url(connection_id),  # another organisation's path: 404
        tenant.connection_url("wc_unknown"),  # 404
        tenant.connection_url(strangers["others_connection"]),  # another organisation's connection: 404
        f"/api/v1/organisations/0/integrations/warehouse-connections/{connection_id}/",  # 422
        tenant.connection_url("a.b"),  # 422
    ]
    codes = set()
    for path in paths:
        for query in queries:
            for headers in (tenant.read, credentials[0], credentials[1]):
                answer = await both(client, declared, "GET", path + operation + query, headers or {}, None)
                codes.add(answer.status_code)
    for headers in credentials[2:]:
        for query in (good, bad):
            await both(client, declared, "GET", paths[0] + operation + query, headers or {}, None)
    assert codes == {200, 403, 404, 422}
    await both(client, declared, "GET", paths[0] + operation + good, tenant.read, b"{}")
    await both(client, declared, "HEAD", paths[0] + operation + good, tenant.read, None)


async def test_lean_path__status_history__every_answer_and_refusal_as_the_declared_route(
    client: httpx.AsyncClient,
    declared: httpx.AsyncClient,
    world: dict[str, Any],
    strangers: dict[str, Any],
    clock: FrozenClock,
) -> None:
    tenant: Tenant = world["tenant"]
    other: Tenant = world["other"]
    queries = history_queries(clock)
    url = tenant.connection_url(world["connection_id"]) + "status-history"
    seen = await codes_as_declared(client, declared, url, queries, tenant.read, tenant.write)
    assert seen == {200, 422}
    # The paused connection's last interval says so, on either path.
    paused = other.connection_url(strangers["others_connection"]) + "status-history/"
    answer = await both(client, declared, "GET", paused, other.read, None)
    assert answer.json()["intervals"][-1]["reason"]["code"] == "paused"
    late = f"?from={iso(clock.now)}"  # refused after the connection: an empty range
    await refusals_as_declared(
        client, declared, world, strangers, "status-history/", (queries[1], "?from=yesterday", late)
    )


async def test_lean_path__connection_metrics__every_answer_and_refusal_as_the_declared_route(
    client: httpx.AsyncClient,
    declared: httpx.AsyncClient,
    world: dict[str, Any],
    strangers: dict[str, Any],
    clock: FrozenClock,
) -> None:
    tenant: Tenant = world["tenant"]
    queries = metrics_queries(clock)
    url = tenant.connection_url(world["connection_id"]) + "telemetry/metrics"
    seen = await codes_as_declared(client, declared, url, queries, tenant.read)
    assert seen == {200, 422}
    # A series answers with its hourly buckets and every finished run's events.
    series = await both(client, declared, "GET", url + "/" + queries[3], tenant.read, None)
    delivered = series.json()["data"]["events_delivered"]
    assert len(delivered) >= 7 * 24
    assert sum(point["value"] for point in delivered) == 3 * 8 * 5  # every finished run, 5 events each
    unkept = "?timestamp_from=2026-01-01T00:00:00Z&time_type=timesummary"  # refused after the connection
    await refusals_as_declared(
        client, declared, world, strangers, "telemetry/metrics/", (queries[3], "?time_interval=0", unkept)
    )


def test_lean_path__a_query_parameter_the_route_does_not_declare__refused_at_install(
    settings: Settings, db: Database
) -> None:
    app = create_app(settings, database=db)
    with pytest.raises(ValueError, match="declares no query parameter named"):
        lean.install(
            app,
            history_router.router,
            {
                "get_status_history": lean.Operation(
                    history_router.lean_get_status_history, query=frozenset({"since"})
                )
            },
        )


async def test_lean_path__openapi__same_document_as_without_it(
    settings: Settings, db: Database, app: FastAPI
) -> None:
    plain = declared_only(create_app(settings, database=db))
    assert app.openapi() == plain.openapi()
