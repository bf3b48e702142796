"""The OpenAPI document is a contract a generated client can rely on (SPEC §4.8).

The document must validate, declare the bearer scheme and every error with its body, type
every metric and mark every timestamp ``date-time``; and a client generated from it with
openapi-python-client must call every read endpoint and parse each answer into its models,
with no field the document does not declare.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

import attrs
import httpx
import pytest
from hypothesis import find
from hypothesis import strategies as st
from openapi_spec_validator import validate

from tests.conftest import FrozenClock, Tenant, iso

API = "/api/v1"


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_openapi__document__is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert len({op["operationId"] for _, _, op in operations(document)}) == len(list(operations(document)))


def test_openapi__api_operations__declare_bearer_and_every_error_with_its_body(
    document: dict[str, Any],
) -> None:
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    for path, method, operation in operations(document):
        if not path.startswith(API):
            continue
        where = f"{method.upper()} {path}"
        assert operation.get("security") == [{"bearer": []}], where
        expected = {"401", "403", "422", "429", "503"}
        if "{" in path:
            expected.add("404")
        if "requestBody" in operation:
            expected.add("413")
        responses = operation["responses"]
        assert expected <= set(responses), (where, sorted(responses))
        for code, response in responses.items():
            if int(code) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]["$ref"]
            model = "HTTPValidationError" if code == "422" else "ErrorBody"
            assert schema == f"#/components/schemas/{model}", (where, code)
        assert "Retry-After" in responses["503"]["headers"], where
        assert "Retry-After" in responses["429"]["headers"], where
    runs = document["paths"][
        f"{API}/organisations/{{organisation_pk}}/integrations/warehouse-connections/"
        "{connection_id}/metrics/{run_id}/"
    ]
    assert "409" in runs["patch"]["responses"]


def _walk(schema: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        yield path, schema
        for key, inner in schema.items():
            yield from _walk(inner, f"{path}.{key}")
    elif isinstance(schema, list):
        for i, inner in enumerate(schema):
            yield from _walk(inner, f"{path}[{i}]")


# A connection's config is free-form by design (non-secret settings of the tenant's loader).
FREE_FORM = (
    "ConnectionCreate.properties.config",
    "ConnectionUpdate.properties.config",
    "ConnectionOut.properties.config",
)


def test_openapi__schemas__no_bare_objects_and_timestamps_are_date_time(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("MetricValues", "MetricSeries", "MetricsMetadata", "StatusPoint", "LatencyPoint"):
        assert name in schemas, name
    for path, node in _walk(schemas, ""):
        path = path.lstrip(".")
        if node.get("type") == "object" and not any(path.startswith(f) for f in FREE_FORM):
            typed = node.get("properties") or isinstance(node.get("additionalProperties"), dict)
            assert typed, f"{path} is a bare object"
            assert node.get("additionalProperties") not in ({}, True), f"{path} is a bare object"
        name = path.rsplit(".", 1)[-1]
        if path.count(".properties.") == 1 and (name.endswith("_at") or name.startswith("timestamp")):
            variants = node.get("anyOf", [node])
            strings = [v for v in variants if v.get("type") == "string"]
            assert all(v.get("format") == "date-time" for v in strings), path
    for _, _, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"].startswith("timestamp"):
                variants = parameter["schema"].get("anyOf", [parameter["schema"]])
                assert {"type": "string", "format": "date-time"}.items() <= variants[0].items()


@pytest.fixture
def generated_client(document: dict[str, Any], tmp_path: Path) -> Iterator[ModuleType]:
    """A client package generated from the served document, imported under a unique name."""
    import json

    package = f"pipepulse_client_{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    config = tmp_path / "config.yaml"
    config.write_text(f"package_name_override: {package}\npost_hooks: []\n")
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / package),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]


def _endpoint_modules(package: ModuleType) -> dict[str, ModuleType]:
    api = importlib.import_module(f"{package.__name__}.api")
    found = {}
    for info in pkgutil.walk_packages(api.__path__, api.__name__ + "."):
        module = importlib.import_module(info.name)
        if hasattr(module, "asyncio_detailed"):
            found[info.name.rsplit(".", 1)[1]] = module
    return found


def made_up_id(parameter: dict[str, Any]) -> str:
    """The simplest id that matches the parameter's documented pattern (or any id at all)."""
    pattern = parameter.get("schema", {}).get("pattern")
    if pattern is None:
        return "missing-id"
    return str(find(st.from_regex(pattern, fullmatch=True), lambda _: True))


def _enum(module: ModuleType, parameter: str, value: str) -> Enum:
    annotation = inspect.signature(module.asyncio_detailed).parameters[parameter].annotation
    enum_type = next(a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, Enum))
    return enum_type(value)


def _undeclared_fields(value: Any, where: str = "answer") -> list[str]:
    """Fields the generated models had to put in additional_properties: the document missed them."""
    found: list[str] = []
    if attrs.has(type(value)):
        names = [f.name for f in attrs.fields(type(value))]
        extra = getattr(value, "additional_properties", {})
        if names != ["additional_properties"] and extra:
            found.append(f"{where}: {sorted(extra)}")
        for name in names:
            found += _undeclared_fields(getattr(value, name), f"{where}.{name}")
        if names == ["additional_properties"]:
            for key, inner in extra.items():
                found += _undeclared_fields(inner, f"{where}[{key}]")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _undeclared_fields(inner, f"{where}[{i}]")
    return found


# Generating the client (a subprocess running openapi-python-client and its formatter) is counted
# in this test's time: it took over 90 s with both suites and other work sharing two cores.
@pytest.mark.timeout(300)
async def test_generated_client__every_read_endpoint__answers_parse_into_the_documented_models(
    app: Any,
    client: httpx.AsyncClient,
    document: dict[str, Any],
    generated_client: ModuleType,
    tenant: Tenant,
    connection: dict[str, Any],
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    runs_url = tenant.connection_url(connection["id"]) + "metrics/"
    for minutes, report in ((50, {"events_delivered": 7}), (20, {"error": "warehouse refused"})):
        body = {
            "run_id": f"run-{minutes}",
            "started_at": iso(clock.now - timedelta(minutes=minutes)),
            "completed_at": iso(clock.now - timedelta(minutes=minutes - 1)),
            **report,
        }
        assert (await client.post(runs_url, json=body, headers=service_key)).status_code == 201
    known = {
        "organisation_pk": tenant.id,
        "connection_id": connection["id"],
        "run_id": "run-50",
        "slug": tenant.slug,
    }
    modules = _endpoint_modules(generated_client)
    api_client = generated_client.AuthenticatedClient(
        base_url="http://pipepulse.test",
        token=tenant.reader,
        raise_on_unexpected_status=True,
        httpx_args={"transport": httpx.ASGITransport(app=app)},
    )
    error_models = (generated_client.models.ErrorBody, generated_client.models.HTTPValidationError)

    called = []
    async with api_client:
        for path, method, operation in operations(document):
            if method != "get":
                continue
            module = modules[operation["operationId"]]
            path_specs = [p for p in operation.get("parameters", []) if p["in"] == "path"]
            path_params = [p["name"] for p in path_specs]
            unknown = [name for name in path_params if name not in known]
            # An id of a resource the test did not create: well formed (it matches the documented
            # pattern), so the answer must be a documented 404.
            args = [known.get(p["name"], 1 if "pk" in p["name"] else made_up_id(p)) for p in path_specs]
            variants: list[dict[str, Any]] = [{}]
            if operation["operationId"] == "get_connection_metrics":
                variants += [
                    {"time_type": _enum(module, "time_type", kind)} for kind in ("timeseries", "timesummary")
                ]
            for extra in variants:
                response = await module.asyncio_detailed(*args, client=api_client, **extra)
                called.append(operation["operationId"])
                where = f"GET {path} {extra}"
                if path.startswith("/api/v1/platform/"):
                    # Platform scope (SPEC §7.4): an organisation token is refused, documented.
                    assert response.status_code == 403, where
                    assert isinstance(response.parsed, generated_client.models.ErrorBody), where
                    continue
                if unknown:
                    assert response.status_code == 404, where
                    assert isinstance(response.parsed, generated_client.models.ErrorBody), where
                    continue
                assert response.status_code == 200, (where, response.content[:300])
                assert response.parsed is not None, where
                assert not isinstance(response.parsed, error_models), where
                assert _undeclared_fields(response.parsed) == [], where

    assert {"get_telemetry", "get_connection_metrics", "get_bulk_metrics", "list_runs"} <= set(called)
    # The timeseries answer parsed as series, the others as values.
    metrics_module = modules["get_connection_metrics"]
    series = await metrics_module.asyncio(
        tenant.id,
        connection["id"],
        client=generated_client.AuthenticatedClient(
            base_url="http://pipepulse.test",
            token=tenant.reader,
            httpx_args={"transport": httpx.ASGITransport(app=app)},
        ),
        time_type=_enum(metrics_module, "time_type", "timeseries"),
    )
    assert type(series.data).__name__ == "MetricSeries"
    assert (
        series.data.events_delivered[-1].value == 7 or sum(p.value for p in series.data.events_delivered) == 7
    )
