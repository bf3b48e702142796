"""docs/api.md "Which error comes first": on every route under one connection, 401 comes before
403 (scope), 403 before 404 (a connection that is unknown or another organisation's), and 404
before 422 (bad parameters or body): a caller learns nothing about a connection it may not see
from how its request was malformed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Tenant

OBJECTIVE = "obj_0123456789abcdef"


def routes(base: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every route that takes the connection from its path: method, path, JSON body."""
    return [
        ("GET", f"{base}/", None),
        ("PATCH", f"{base}/", {"name": "renamed"}),
        ("DELETE", f"{base}/", None),
        ("GET", f"{base}/status-history/", None),
        ("GET", f"{base}/health/", None),
        ("GET", f"{base}/telemetry/metrics/", None),
        ("GET", f"{base}/metrics/", None),
        ("GET", f"{base}/metrics/some-run/", None),
        ("POST", f"{base}/objectives/", {"indicator": "availability", "target_percent": 99.5}),
        ("GET", f"{base}/objectives/", None),
        ("GET", f"{base}/objectives/{OBJECTIVE}/", None),
        ("DELETE", f"{base}/objectives/{OBJECTIVE}/", None),
        ("GET", f"{base}/objectives/{OBJECTIVE}/status/", None),
    ]


def malformed(base: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Requests each refused with 422 on a connection the caller may see."""
    return [
        ("PATCH", f"{base}/", {"name": 5}),
        ("PATCH", f"{base}/", {"type": "no-such-warehouse"}),
        ("GET", f"{base}/status-history/?from=yesterday", None),
        # Well-formed but inverted: refused by the service, not by FastAPI's validation.
        ("GET", f"{base}/status-history/?from=2026-04-20T11:00:00Z&to=2026-04-20T10:00:00Z", None),
        ("GET", f"{base}/telemetry/metrics/?time_interval=0", None),
        ("GET", f"{base}/telemetry/metrics/?time_unit=fortnight", None),
        ("GET", f"{base}/metrics/?size=0", None),
        ("GET", f"{base}/metrics/?outcome=maybe", None),
        ("POST", f"{base}/objectives/", {"indicator": "availability", "target_percent": 140}),
        ("POST", f"{base}/objectives/", {}),
        ("GET", f"{base}/objectives/not-an-objective-id/", None),
    ]


async def send(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers)


@pytest.fixture
async def theirs(client: httpx.AsyncClient, other_tenant: Tenant) -> str:
    """A connection of the other organisation."""
    body = {"name": "theirs", "type": "redshift"}
    created = await client.post(other_tenant.connections_url(), json=body, headers=other_tenant.write)
    assert created.status_code == 201, created.text
    connection_id: str = created.json()["id"]
    return connection_id


async def test_malformed_request__own_connection__422(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]
) -> None:
    base = tenant.connection_url(connection["id"]).rstrip("/")
    for method, path, body in malformed(base):
        response = await send(client, method, path, body, tenant.write)
        assert response.status_code == 422, (method, path, response.text)


async def test_malformed_request__another_organisation_s_connection__404_not_422(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, theirs: str
) -> None:
    unknown = await client.get(tenant.connection_url("wc_doesnotexist"), headers=tenant.read)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "warehouse connection not found"
    # Through the other organisation's path and through the caller's own.
    for base in (other_tenant.connection_url(theirs), tenant.connection_url(theirs)):
        for method, path, body in malformed(base.rstrip("/")):
            response = await send(client, method, path, body, tenant.write)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json() == unknown.json(), (method, path)


async def test_malformed_request__unknown_connection__404_not_422(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for method, path, body in malformed(tenant.connection_url("wc_doesnotexist").rstrip("/")):
        response = await send(client, method, path, body, tenant.write)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"] == "warehouse connection not found"


async def test_every_connection_route__another_organisation_s_connection__404_as_unknown(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, theirs: str
) -> None:
    for method, path, body in routes(other_tenant.connection_url(theirs).rstrip("/")):
        response = await send(client, method, path, body, tenant.write)
        missing = await send(client, method, path.replace(theirs, "wc_doesnotexist"), body, tenant.write)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == missing.json(), (method, path)
    # Nothing of theirs changed or went: it still reads as it did to its own organisation.
    still = await client.get(other_tenant.connection_url(theirs), headers=other_tenant.read)
    assert still.status_code == 200
    assert still.json()["name"] == "theirs"
    objectives_url = other_tenant.connection_url(theirs) + "objectives/"
    objectives = await client.get(objectives_url, headers=other_tenant.read)
    assert objectives.json() == []


async def test_malformed_request__no_token__401_before_404(
    client: httpx.AsyncClient, other_tenant: Tenant, theirs: str
) -> None:
    for method, path, body in malformed(other_tenant.connection_url(theirs).rstrip("/")):
        response = await send(client, method, path, body, {})
        assert response.status_code == 401, (method, path, response.text)


async def test_write_without_scope__another_organisation_s_connection__403_before_404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, theirs: str
) -> None:
    base = other_tenant.connection_url(theirs).rstrip("/")
    for method, path, body in [
        ("PATCH", f"{base}/", {"name": 5}),
        ("DELETE", f"{base}/", None),
        ("POST", f"{base}/objectives/", {}),
        ("DELETE", f"{base}/objectives/{OBJECTIVE}/", None),
    ]:
        # The read-only token lacks write:connections and write:alerts.
        response = await send(client, method, path, body, tenant.read)
        assert response.status_code == 403, (method, path, response.text)


async def test_request_form_checks__before_credentials__same_answer_for_any_connection(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, theirs: str
) -> None:
    # What is refused for the request's form alone (docs/api.md "Errors and bad input") comes
    # before the credentials are read, and says nothing of the connection: an unknown query
    # parameter, a number spelt two ways, a body not labelled JSON, a body that is not JSON. A
    # body without a bearer is a 401 before anything (it is never read).
    anonymous, bearer = {}, tenant.write
    checks: list[tuple[str, str, dict[str, str], bytes | None, list[dict[str, str]], int]] = [
        ("GET", "metrics/?colour=blue", {}, None, [anonymous, bearer], 422),
        ("GET", "metrics/?size=01", {}, None, [anonymous, bearer], 422),
        ("PATCH", "", {"Content-Type": "text/plain"}, b'{"name": "x"}', [bearer], 415),
        ("PATCH", "", {"Content-Type": "application/json"}, b'{"name": ', [bearer], 422),
        ("PATCH", "", {"Content-Type": "application/json"}, b'{"name": ', [anonymous], 401),
    ]
    for method, tail, headers, content, auths, status in checks:
        answers = []
        for url in (other_tenant.connection_url(theirs), other_tenant.connection_url("wc_doesnotexist")):
            for auth in auths:
                response = await client.request(
                    method, url + tail, content=content, headers={**headers, **auth}
                )
                assert response.status_code == status, (method, tail, response.text)
                answers.append(response.json())
        assert all(a == answers[0] for a in answers), (method, tail)
