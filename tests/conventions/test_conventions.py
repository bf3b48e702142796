"""SPEC §4.8 on every operation of the OpenAPI document: both slash forms, no redirect;
unknown query parameters and GET bodies refused by name; security headers; local docs."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import FrozenClock, Tenant, iso

API = "/api/v1"


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    service_key: dict[str, str],
    clock: FrozenClock,
) -> dict[str, Any]:
    """Ids that exist, so every GET answers 200, and the user token's headers."""
    run = {
        "run_id": "run-1",
        "started_at": iso(clock.now - timedelta(minutes=5)),
        "completed_at": iso(clock.now - timedelta(minutes=4)),
        "events_delivered": 3,
    }
    pushed = await client.post(
        tenant.connection_url(connection["id"]) + "metrics/", json=run, headers=service_key
    )
    assert pushed.status_code == 201
    return {
        "values": {
            "organisation_pk": tenant.id,
            "connection_id": connection["id"],
            "run_id": "run-1",
            "slug": tenant.slug,
        },
        "headers": tenant.read,
    }


async def api_gets(client: httpx.AsyncClient, values: dict[str, Any]) -> list[str]:
    """Every GET of the API in the OpenAPI document, with its path parameters filled in."""
    document = (await client.get(f"{API}/openapi.json")).json()
    paths = []
    for path, item in document["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        if "get" in item and path.startswith(API) and all(n in values for n in names):
            paths.append(path.format(**values))
    assert len(paths) >= 10
    return paths


def other_slash(path: str) -> str:
    return path[:-1] if path.endswith("/") else path + "/"


async def test_paths__with_and_without_trailing_slash__same_answer_no_redirect(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    for path in await api_gets(client, world["values"]):
        declared = await client.get(path, headers=world["headers"])
        other = await client.get(other_slash(path), headers=world["headers"])
        if path.startswith(f"{API}/platform/"):  # platform scope: an organisation token is refused
            assert (declared.status_code, other.status_code) == (403, 403), path
            assert "location" not in other.headers
            continue
        assert declared.status_code == 200, (path, declared.text)
        assert other.status_code == 200, (other_slash(path), other.text)
        assert "location" not in other.headers
        if "telemetry/metrics" not in path:  # as_of differs by nothing, but keep to stable bodies
            assert other.json() == declared.json(), path


async def test_paths__writes_without_trailing_slash__served(
    client: httpx.AsyncClient,
    tenant: Tenant,
    world: dict[str, Any],
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    created = await client.post(
        tenant.connections_url().rstrip("/"),
        json={"name": "No slash", "type": "duckdb"},
        headers=tenant.write,
    )
    assert created.status_code == 201, created.text
    runs = tenant.connection_url(created.json()["id"]) + "metrics"
    pushed = await client.post(runs, json={"run_id": "r", "started_at": iso(clock.now)}, headers=service_key)
    assert pushed.status_code == 201
    reported = await client.patch(
        f"{runs}/r", json={"completed_at": iso(clock.now), "events_delivered": 1}, headers=service_key
    )
    assert reported.status_code == 204
    # The organisation-health alias is declared without the slash; with it, it answers too.
    space = await client.get(f"{API}/spaces/{tenant.slug}/integration-health/", headers=tenant.read)
    assert space.status_code == 200


async def test_openapi__each_path__listed_once(client: httpx.AsyncClient) -> None:
    document = (await client.get(f"{API}/openapi.json")).json()
    normalised = [path.rstrip("/") for path in document["paths"]]
    assert len(normalised) == len(set(normalised))


async def test_paths__unknown_still__404_json(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for path in (f"{API}/nothing-here", f"{API}/nothing-here/"):
        response = await client.get(path, headers=tenant.read)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}


async def test_query__unknown_parameter_on_every_get__422_naming_it(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    for path in await api_gets(client, world["values"]):
        response = await client.get(path, params={"level": "debug"}, headers=world["headers"])
        assert response.status_code == 422, (path, response.text)
        [problem] = response.json()["detail"]
        assert problem["loc"] == ["query", "level"]
        assert "unknown query parameter 'level'" in problem["msg"]
        assert "accepts" in problem["msg"]


async def test_query__several_unknown__each_named_once(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(f"{API}/organisations/?x=1&y=2&x=3&page=1", headers=tenant.read)
    assert response.status_code == 422
    assert [p["loc"] for p in response.json()["detail"]] == [["query", "x"], ["query", "y"]]


async def test_query__known_parameters__accepted(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    values = world["values"]
    base = f"{API}/organisations/{values['organisation_pk']}/integrations/warehouse-connections/"
    runs = await client.get(
        f"{base}{values['connection_id']}/metrics/",
        params={"page": 1, "size": 10, "outcome": "succeeded"},
        headers=world["headers"],
    )
    assert runs.status_code == 200
    # 'from' is the cursor's alias: judged as a cursor, not refused as unknown.
    bulk = await client.get(
        f"{API}/telemetry/metrics/", params={"from": "not-a-cursor", "sort": "name"}, headers=world["headers"]
    )
    assert "unknown query parameter" not in bulk.text


async def test_bulk__id_parameter__one_connection(
    client: httpx.AsyncClient, tenant: Tenant, world: dict[str, Any]
) -> None:
    other = await client.post(
        tenant.connections_url(), json={"name": "Other", "type": "duckdb"}, headers=tenant.write
    )
    wanted = world["values"]["connection_id"]
    response = await client.get(f"{API}/telemetry/metrics/", params={"id": wanted}, headers=tenant.read)
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["result"]] == [wanted]
    both = await client.get(
        f"{API}/telemetry/metrics/", params={"id": wanted, "ids": other.json()["id"]}, headers=tenant.read
    )
    assert {item["id"] for item in both.json()["result"]} == {wanted, other.json()["id"]}
    bad = await client.get(f"{API}/telemetry/metrics/", params={"id": "a,b"}, headers=tenant.read)
    assert bad.status_code == 422


async def test_get__with_a_body__422_pointing_to_post(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.request(
        "GET", f"{API}/telemetry/metrics/", json={"ids": ["wc_1"]}, headers=tenant.read
    )
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body"]
    assert "GET request takes no body" in problem["msg"]
    assert "POST" in problem["msg"]


async def test_get_with_body__no_credentials__401(client: httpx.AsyncClient) -> None:
    response = await client.request("GET", f"{API}/telemetry/metrics/", json={"ids": ["wc_1"]})
    assert response.status_code == 401


async def test_dashboard__unknown_query_parameter__still_the_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/?utm_source=mail")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


JSON_HEADERS = {
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


async def test_json_answers__success_and_errors__carry_security_headers(
    client: httpx.AsyncClient, world: dict[str, Any], tenant: Tenant
) -> None:
    answers = [
        await client.get(f"{API}/organisations/", headers=tenant.read),
        await client.get(f"{API}/organisations/"),
        await client.get(f"{API}/organisations/999/", headers=tenant.read),
        await client.get(f"{API}/organisations/?bogus=1", headers=tenant.read),
        await client.get(f"{API}/openapi.json"),
        await client.get("/healthz"),
    ]
    for response in answers:
        assert response.headers["content-type"].startswith("application/json")
        for name, value in JSON_HEADERS.items():
            assert response.headers[name] == value, (response.request.url, name)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_dashboard_pages__api_conventions__not_applied_to_them(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", [f"{API}/docs", f"{API}/redoc", f"{API}/docs/", f"{API}/redoc/"])
async def test_docs__pages__load_only_local_assets(client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text
    assert "https://" not in page.text
    assert "cdn" not in page.text.lower()
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    for asset in assets:
        assert asset.startswith(f"{API}/docs/assets/"), asset
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 100
    spec = re.search(r'(?:spec-url|data-openapi-url)="([^"]+)"', page.text)
    assert spec is not None
    assert spec.group(1) == f"{API}/openapi.json"


async def test_docs__swagger_start_script__no_public_validator(client: httpx.AsyncClient) -> None:
    script = await client.get(f"{API}/docs/assets/swagger-init.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "validatorUrl: null" in script.text
    assert (await client.get(f"{API}/docs/assets/..%2Fdocs.py")).status_code == 404
