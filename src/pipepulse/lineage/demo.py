"""The demo's OpenLineage-fed connection: an hourly Airflow task that reports only through
OpenLineage run events, sent through the same path ``POST /api/v1/lineage`` takes."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from pipepulse.auth import service as auth_service
from pipepulse.auth.principals import ServicePrincipal
from pipepulse.db.session import Database
from pipepulse.lineage import events
from pipepulse.lineage import service as lineage_service
from pipepulse.schemas import format_timestamp

NAMESPACE = "airflow://acme-prod"
JOB = "orders_dag.load_orders"
PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.0.0"
# Hours ago of the runs that failed, and what Airflow said.
FAILED = {
    52: 'psycopg2.errors.UndefinedTable: relation "staging.orders" does not exist',
    51: 'psycopg2.errors.UndefinedTable: relation "staging.orders" does not exist',
}


def _event(event_type: str, at: datetime, run_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": format_timestamp(at),
        "producer": PRODUCER,
        "run": {"runId": run_id, "facets": extra.get("run_facets", {})},
        "job": {"namespace": NAMESPACE, "name": JOB},
        "outputs": extra.get("outputs", []),
    }


async def add_lineage_connection(db: Database, organisation_id: int, now: datetime, *, seed: int = 11) -> str:
    """A week of hourly runs of one Airflow task, as OpenLineage events; returns its connection id."""
    rng = random.Random(seed)
    async with db.session(write=True) as session:
        issued = await auth_service.create_service_key(
            session,
            name="demo-openlineage",
            now=now - timedelta(days=8),
            organisation_id=organisation_id,
            auto_create_connections=True,
        )
    key = ServicePrincipal(
        key_id=issued.id, name=issued.name, organisation_id=organisation_id, auto_create_connections=True
    )
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    connection_id = ""
    async with db.session(write=True) as session:
        for hours_ago in range(7 * 24, 0, -1):
            run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            started = this_hour - timedelta(hours=hours_ago) + timedelta(minutes=rng.randint(1, 10))
            ended = started + timedelta(seconds=rng.randint(40, 900))
            start = events.parse(_event("START", started, run_id))
            applied = await lineage_service.apply(session, key, start, now)
            connection_id = applied.connection_id or connection_id
            if hours_ago in FAILED:
                facets = {"errorMessage": {"message": FAILED[hours_ago], "programmingLanguage": "python"}}
                end = _event("FAIL", ended, run_id, run_facets=facets)
            else:
                rows = int(4000 * rng.uniform(0.85, 1.15))
                stats = {"rowCount": rows, "size": rows * 180}
                output = {"namespace": "postgres://warehouse:5432", "name": "analytics.public.orders"}
                end = _event(
                    "COMPLETE",
                    ended,
                    run_id,
                    outputs=[{**output, "outputFacets": {"outputStatistics": stats}}],
                )
            await lineage_service.apply(session, key, events.parse(end), now)
    return connection_id
