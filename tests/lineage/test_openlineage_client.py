"""The real ``openlineage-python`` client's HTTP transport against pipepulse on loopback."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import error_message_run, nominal_time_run, output_statistics_output_dataset
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpCompression, HttpConfig, HttpTransport

from pipepulse.db.session import Database
from tests.conftest import Tenant
from tests.lineage.conftest import bound_key
from tests.lineage.live import LossyProxy


def _client(url: str, key: dict[str, str], *, retries: int = 0) -> OpenLineageClient:
    config = HttpConfig(
        url=url,
        endpoint="api/v1/lineage",
        auth=ApiKeyTokenProvider({"apiKey": key["Authorization"].removeprefix("Bearer ")}),
        compression=HttpCompression.GZIP,
        timeout=30,
        retry={
            "total": retries,
            "read": retries,
            "connect": retries,
            "backoff_factor": 0.01,
            "status_forcelist": [500, 502, 503, 504],
            "allowed_methods": ["HEAD", "POST"],
        },
    )
    return OpenLineageClient(transport=HttpTransport(config))


def _event(
    state: RunState,
    at: datetime,
    run_id: str,
    *,
    rows: list[int] | None = None,
    run_facets: dict[str, Any] | None = None,
) -> RunEvent:
    outputs = [
        OutputDataset(
            namespace="postgres://warehouse:5432",
            name=f"analytics.public.table_{i}",
            outputFacets={
                "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=count, size=count * 100
                )
            },
        )
        for i, count in enumerate(rows or [])
    ]
    return RunEvent(
        eventType=state,
        eventTime=at.isoformat(),
        run=Run(runId=run_id, facets=run_facets or {}),
        job=Job(namespace="airflow://prod", name="orders_dag.load_orders"),
        producer="https://github.com/apache/airflow/tree/providers-openlineage/2.0.0",
        outputs=outputs,
    )


async def _only_connection(api: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    (connection,) = (await api.get(tenant.connections_url(), headers=tenant.read)).json()["items"]
    assert isinstance(connection, dict)
    return connection


async def test_openlineage_client__start_then_complete__run_with_output_row_counts(
    live_api: str, tenant: Tenant, db: Database
) -> None:
    key = await bound_key(db, tenant, datetime.now(UTC))
    client = _client(live_api, key)
    run_id = str(uuid.uuid4())
    started = datetime.now(UTC) - timedelta(seconds=30)
    nominal = {"nominalTime": nominal_time_run.NominalTimeRunFacet(nominalStartTime="2026-12-06T00:00:00Z")}
    client.emit(_event(RunState.START, started, run_id, run_facets=nominal))
    client.emit(_event(RunState.COMPLETE, started + timedelta(seconds=20), run_id, rows=[1500, 250]))

    async with httpx.AsyncClient(base_url=live_api) as api:
        connection = await _only_connection(api, tenant)
        assert connection["type"] == "openlineage"
        assert connection["lineage_job"] == {"namespace": "airflow://prod", "name": "orders_dag.load_orders"}
        runs_url = tenant.connection_url(connection["id"]) + "metrics/"
        (run,) = (await api.get(runs_url, headers=tenant.read)).json()["items"]
        assert run["id"] == run_id
        assert (run["outcome"], run["events_delivered"], run["bytes_delivered"]) == (
            "succeeded",
            1750,
            175000,
        )
        assert run["duration_ms"] == 20000
        telemetry = (
            await api.get(tenant.connection_url(connection["id"]) + "telemetry/", headers=tenant.read)
        ).json()
        assert telemetry["status"] == "active"
        assert telemetry["events_last_24h"]["total"] == 1750


async def test_openlineage_client__fail_with_error_message__connection_in_error_with_that_message(
    live_api: str, tenant: Tenant, db: Database
) -> None:
    key = await bound_key(db, tenant, datetime.now(UTC))
    client = _client(live_api, key)
    run_id = str(uuid.uuid4())
    started = datetime.now(UTC) - timedelta(seconds=30)
    message = 'psycopg2.errors.UndefinedTable: relation "staging.orders" does not exist'
    error = {
        "errorMessage": error_message_run.ErrorMessageRunFacet(
            message=message, programmingLanguage="python", stackTrace="Traceback (most recent call last): ..."
        )
    }
    client.emit(_event(RunState.START, started, run_id))
    client.emit(_event(RunState.FAIL, started + timedelta(seconds=5), run_id, run_facets=error))

    async with httpx.AsyncClient(base_url=live_api) as api:
        connection = await _only_connection(api, tenant)
        url = tenant.connection_url(connection["id"])
        telemetry = (await api.get(url + "telemetry/", headers=tenant.read)).json()
        assert telemetry["status"] == "error"
        assert telemetry["recent_errors"][0]["message"] == message
        run = (await api.get(url + f"metrics/{run_id}/", headers=tenant.read)).json()
        assert (run["outcome"], run["error"]) == ("failed", message)


async def test_openlineage_client__answers_lost_behind_a_503__retries_never_double_a_run(
    lossy_proxy: LossyProxy, live_api: str, tenant: Tenant, db: Database
) -> None:
    key = await bound_key(db, tenant, datetime.now(UTC))
    client = _client(lossy_proxy.url, key, retries=3)
    started = datetime.now(UTC) - timedelta(minutes=1)
    run_ids = [str(uuid.uuid4()) for _ in range(3)]
    for i, run_id in enumerate(run_ids):
        client.emit(_event(RunState.START, started, run_id))
        client.emit(_event(RunState.COMPLETE, started + timedelta(seconds=10 + i), run_id, rows=[100]))

    # Every event reached pipepulse twice: once answered 503 (lost), once by its retry.
    assert (lossy_proxy.lost, lossy_proxy.forwarded) == (6, 12)
    async with httpx.AsyncClient(base_url=live_api) as api:
        connection = await _only_connection(api, tenant)
        url = tenant.connection_url(connection["id"])
        runs = (await api.get(url + "metrics/", headers=tenant.read)).json()
        assert runs["total"] == 3
        assert sorted(r["id"] for r in runs["items"]) == sorted(run_ids)
        assert {r["events_delivered"] for r in runs["items"]} == {100}
        telemetry = (await api.get(url + "telemetry/", headers=tenant.read)).json()
        assert telemetry["events_last_24h"]["total"] == 300
