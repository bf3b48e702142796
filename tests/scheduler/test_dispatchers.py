"""Which dispatcher the settings build, and the Lambda dispatcher against botocore's Stubber.

AWS cannot be reached from here, so the Lambda client is a real botocore client whose HTTP
layer is replaced by a Stubber: the request it would send is checked against the Lambda
API's own model, and the answers are those AWS documents (202, another status, an error).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.stub import ANY, Stubber

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.local_loader import LocalDispatcher, build_dispatcher
from pipepulse.scheduler import dispatchers, runner
from pipepulse.scheduler.dispatchers import (
    HttpDispatcher,
    LambdaDispatcher,
    NoDispatcher,
)
from pipepulse.wire.invocation_signature import expected_signature
from tests.conftest import FrozenClock, Tenant
from tests.scheduler.conftest import LoaderEndpoint

FUNCTION = "pipepulse-loader"


@pytest.fixture
def lambda_client() -> Iterator[tuple[Any, Stubber, list[dict[str, Any]]]]:
    """A real botocore Lambda client with a Stubber; also records the parameters of each call."""
    client = boto3.client(
        "lambda", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.lambda.Invoke", lambda params, **_: calls.append(params)
    )
    with Stubber(client) as stubber:
        yield client, stubber, calls
        stubber.assert_no_pending_responses()


async def make_connection(client: httpx.AsyncClient, tenant: Tenant) -> str:
    response = await client.post(
        tenant.connections_url(),
        json={"name": "l", "type": "duckdb", "state": "connected"},
        headers=tenant.write,
    )
    assert response.status_code == 201, response.text
    connection_id: str = response.json()["id"]
    return connection_id


async def only_run(client: httpx.AsyncClient, tenant: Tenant, connection_id: str) -> dict[str, Any]:
    [run] = (await client.get(tenant.connection_url(connection_id) + "metrics/", headers=tenant.read)).json()[
        "items"
    ]
    body: dict[str, Any] = run
    return body


EXPECTED_INVOKE = {"FunctionName": FUNCTION, "InvocationType": "Event", "Payload": ANY}


async def test_lambda_dispatcher__202_accepted__run_stays_pending_with_the_payload_sent(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    lambda_client: tuple[Any, Stubber, list[dict[str, Any]]],
) -> None:
    boto, stubber, calls = lambda_client
    stubber.add_response("invoke", {"StatusCode": 202}, EXPECTED_INVOKE)
    connection_id = await make_connection(client, tenant)

    result = await runner.tick(db, settings, LambdaDispatcher(FUNCTION, client=boto), clock.now)

    assert (result.seeded, result.dispatch_failures) == (1, 0)
    run = await only_run(client, tenant, connection_id)
    assert run["outcome"] == "pending"
    [call] = calls
    assert json.loads(call["Payload"]) == {
        "run_id": run["id"],
        "connection_id": connection_id,
        "organisation_id": tenant.id,
    }


@pytest.mark.parametrize("status", [200, 204, 500])
async def test_lambda_dispatcher__status_other_than_202__run_failed_with_the_status(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    lambda_client: tuple[Any, Stubber, list[dict[str, Any]]],
    status: int,
) -> None:
    boto, stubber, _ = lambda_client
    stubber.add_response("invoke", {"StatusCode": status}, EXPECTED_INVOKE)
    connection_id = await make_connection(client, tenant)

    result = await runner.tick(db, settings, LambdaDispatcher(FUNCTION, client=boto), clock.now)

    assert result.dispatch_failures == 1
    run = await only_run(client, tenant, connection_id)
    assert (run["outcome"], run["error"]) == ("failed", f"lambda invocation failed: status {status}")


async def test_lambda_dispatcher__client_error__run_failed_with_aws_reason(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    lambda_client: tuple[Any, Stubber, list[dict[str, Any]]],
) -> None:
    boto, stubber, _ = lambda_client
    stubber.add_client_error(
        "invoke",
        service_error_code="ResourceNotFoundException",
        service_message=f"Function not found: {FUNCTION}",
        http_status_code=404,
        expected_params=EXPECTED_INVOKE,
    )
    connection_id = await make_connection(client, tenant)

    result = await runner.tick(db, settings, LambdaDispatcher(FUNCTION, client=boto), clock.now)

    assert result.dispatch_failures == 1
    run = await only_run(client, tenant, connection_id)
    assert run["outcome"] == "failed"
    assert run["error"] == (
        "lambda invocation failed: ResourceNotFoundException: An error occurred (ResourceNotFoundException) "
        f"when calling the Invoke operation: Function not found: {FUNCTION}"
    )
    telemetry = (
        await client.get(tenant.connection_url(connection_id) + "telemetry/", headers=tenant.read)
    ).json()
    assert telemetry["status"] == "error"
    assert telemetry["recent_errors"][0]["message"] == run["error"]


def test_lambda_dispatcher__no_function_name__error_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="PIPEPULSE_LAMBDA_FUNCTION_NAME is required"):
        LambdaDispatcher("")


def test_http_dispatcher__no_url__error_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="PIPEPULSE_LOADER_URL is required"):
        HttpDispatcher("", "secret")


async def test_build__each_dispatcher_setting__that_dispatcher(
    settings: Settings, db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def build(**changes: Any) -> dispatchers.Dispatcher:
        return build_dispatcher(settings.model_copy(update=changes), db, clock)

    assert isinstance(build(dispatcher="none"), NoDispatcher)
    assert isinstance(build(dispatcher="local"), LocalDispatcher)

    http = build(dispatcher="http", loader_url="http://127.0.0.1:9/invoke", loader_signing_secret="s3cret")
    assert isinstance(http, HttpDispatcher)
    assert (http.url, http.secret) == ("http://127.0.0.1:9/invoke", "s3cret")
    await http.close()

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws = build(dispatcher="lambda", lambda_function_name=FUNCTION)
    assert isinstance(aws, LambdaDispatcher)
    assert aws.function_name == FUNCTION
    assert aws.client.meta.service_model.service_name == "lambda"
    assert aws.client.meta.region_name == "eu-west-1"


async def test_build__http_or_lambda_without_their_setting__error_naming_it(
    settings: Settings, db: Database, clock: FrozenClock
) -> None:
    with pytest.raises(ValueError, match="PIPEPULSE_LOADER_URL"):
        build_dispatcher(settings.model_copy(update={"dispatcher": "http"}), db, clock)
    with pytest.raises(ValueError, match="PIPEPULSE_LAMBDA_FUNCTION_NAME"):
        build_dispatcher(settings.model_copy(update={"dispatcher": "lambda"}), db, clock)


async def test_http_dispatcher__built_from_settings__signs_with_the_scheduler_s_clock(
    client: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    db: Database,
    clock: FrozenClock,
    loader_endpoint: tuple[str, type[LoaderEndpoint]],
) -> None:
    # The invocation's timestamp is the instant the scheduler runs at, not the machine's time:
    # a scheduler on the test's frozen clock signs with that instant.
    url, endpoint = loader_endpoint
    await make_connection(client, tenant)
    http = build_dispatcher(
        settings.model_copy(
            update={"dispatcher": "http", "loader_url": url, "loader_signing_secret": "s3cret"}
        ),
        db,
        clock,
    )
    result = await runner.tick(db, settings, http, clock.now)
    await http.close()
    assert result.dispatch_failures == 0
    [(headers, body)] = endpoint.received
    assert headers["x-pipepulse-timestamp"] == str(int(clock.now.timestamp()))
    assert headers["x-pipepulse-signature"] == expected_signature(
        "s3cret", headers["x-pipepulse-timestamp"], body
    )
