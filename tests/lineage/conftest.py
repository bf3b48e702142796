"""Fixtures for OpenLineage ingest: organisation-bound service keys and run events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from pipepulse.auth import service as auth_service
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant, iso
from tests.lineage.live import live_api, lossy_proxy

__all__ = ["live_api", "lossy_proxy"]

PRODUCER = "https://github.com/pipepulse/tests"


async def bound_key(
    db: Database, tenant: Tenant, now: datetime, *, auto_create: bool = True
) -> dict[str, str]:
    async with db.session(write=True) as session:
        issued = await auth_service.create_service_key(
            session, name="lineage", now=now, organisation_id=tenant.id, auto_create_connections=auto_create
        )
    return {"Authorization": f"Bearer {issued.key}"}


@pytest.fixture
async def lineage_key(db: Database, tenant: Tenant, clock: FrozenClock) -> dict[str, str]:
    """A service key bound to ``tenant`` that may create the connections of new jobs."""
    return await bound_key(db, tenant, clock.now)


def run_event(
    event_type: str,
    at: datetime,
    *,
    run_id: str | None = None,
    namespace: str = "airflow://prod",
    name: str = "orders.load",
    outputs: list[dict[str, Any]] | None = None,
    run_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": iso(at),
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": run_facets or {}},
        "job": {"namespace": namespace, "name": name, "facets": {}},
        "inputs": [],
        "outputs": outputs or [],
    }


def output(name: str, rows: int | None = None, size: int | None = None) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json",
    }
    if rows is not None:
        stats["rowCount"] = rows
    if size is not None:
        stats["size"] = size
    return {
        "namespace": "duckdb://warehouse",
        "name": name,
        "facets": {},
        "outputFacets": {"outputStatistics": stats},
    }


def error_facet(message: str) -> dict[str, Any]:
    return {
        "errorMessage": {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json",
            "message": message,
            "programmingLanguage": "python",
        }
    }
