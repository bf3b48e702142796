"""OpenLineage run events applied as runs (SPEC §9), with the idempotency of §4.2.

A job maps to the connection of the key's organisation that names it; START seeds the run,
COMPLETE / FAIL / ABORT complete it (or create and complete it, without a START); RUNNING
and OTHER change nothing, as do dbt's statement-level jobs. Parent runs are kept but not
linked to their children (docs/openlineage.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import ids
from pipepulse.auth.principals import ServicePrincipal
from pipepulse.connections.schemas import DEFAULT_EVENT_TYPES
from pipepulse.db.models import WarehouseConnection
from pipepulse.errors import Forbidden, Invalid
from pipepulse.lineage import repository
from pipepulse.lineage.events import LineageEvent
from pipepulse.runs import repository as runs_repository
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import RunCreate, RunReport

CONNECTION_TYPE = "openlineage"
# OpenLineage-fed connections are not seeded by the scheduler: the orchestrator runs the job.
DEFAULT_INTERVAL_SECONDS = 3600
UNBOUND_KEY = (
    "OpenLineage events need a service key bound to an organisation: create one with "
    "'pipepulse service-key create --name N --org S'"
)


@dataclass(frozen=True)
class Applied:
    """What one event did: ``changed`` False for a repeat or an event that changes nothing."""

    connection_id: str | None
    run_id: str
    event_type: str
    changed: bool

    @property
    def status(self) -> int:
        return 201 if self.changed else 200


def organisation_of(key: ServicePrincipal) -> int:
    if key.organisation_id is None:
        raise Forbidden(UNBOUND_KEY)
    return key.organisation_id


async def _connection(
    session: AsyncSession, key: ServicePrincipal, event: LineageEvent, now: datetime
) -> WarehouseConnection:
    organisation_id = organisation_of(key)
    found = await repository.connection_for_job(session, organisation_id, event.namespace, event.name)
    if found is not None:
        return found
    job = f"{event.namespace}/{event.name}"
    if not key.auto_create_connections:
        raise Invalid(
            f"no connection of this organisation watches the OpenLineage job {job!r}: give a connection "
            "this lineage_job, or use a service key created with --auto-create-connections",
            loc=("body", "job"),
        )
    await repository.insert_connection_if_absent(
        session,
        {
            "id": ids.connection_id(),
            "organisation_id": organisation_id,
            "name": job[:200],
            "type": CONNECTION_TYPE,
            "integration_type": "warehouse_delivery",
            "config": {},
            "state": "connected",
            "event_types": list(DEFAULT_EVENT_TYPES),
            "schedule_interval_seconds": DEFAULT_INTERVAL_SECONDS,
            "freshness_sla_seconds": None,
            "created_at": now,
            "updated_at": now,
            "lineage_namespace": event.namespace,
            "lineage_name": event.name,
            "lineage_key": repository.job_key(event.namespace, event.name),
        },
    )
    created = await repository.connection_for_job(session, organisation_id, event.namespace, event.name)
    assert created is not None
    return created


def _report(event: LineageEvent) -> RunReport:
    error = None
    if event.event_type == "FAIL":
        error = event.error_message or "run failed"
    elif event.event_type == "ABORT":
        error = event.error_message or "run aborted"
    return RunReport(
        completed_at=event.event_time,
        events_delivered=event.rows,
        bytes_delivered=event.bytes,
        error=error,
    )


def _as_event_time(exc: Invalid) -> Invalid:
    """A run rule broken by the event's time is the event's ``eventTime`` to fix."""
    if exc.loc[-1:] in (("completed_at",), ("started_at",)):
        return Invalid(
            exc.detail.replace("completed_at", "eventTime").replace("started_at", "eventTime"),
            loc=("body", "eventTime"),
        )
    return exc


async def apply(session: AsyncSession, key: ServicePrincipal, event: LineageEvent, now: datetime) -> Applied:
    """Apply one checked event; raises the 4xx that says why when it cannot be."""
    organisation_of(key)
    if (not event.terminal and event.event_type != "START") or event.statement_level:
        return Applied(None, event.run_id, event.event_type, changed=False)
    connection = await _connection(session, key, event, now)
    run = await runs_repository.get(session, connection.id, event.run_id)
    changed = False
    try:
        if event.event_type == "START":
            # A START for a run already known (repeated, or late behind its end) changes nothing.
            if run is None:
                _, changed = await runs_service.create(
                    session, connection, RunCreate(run_id=event.run_id, started_at=event.event_time), now
                )
        elif run is None:
            report = _report(event)
            _, changed = await runs_service.create(
                session,
                connection,
                RunCreate(
                    run_id=event.run_id,
                    started_at=event.event_time,
                    completed_at=report.completed_at,
                    events_delivered=report.events_delivered,
                    bytes_delivered=report.bytes_delivered,
                    error=report.error,
                ),
                now,
            )
        else:
            # Identical repeats are no-ops; a different end for a completed run is 409.
            one = runs_service.Report(
                0, connection.organisation_id, connection.id, event.run_id, _report(event)
            )
            await runs_service.report(session, one, now)
            changed = run.completed_at is None
    except Invalid as exc:
        raise _as_event_time(exc) from None
    await repository.keep_run_details(
        session,
        connection_id=connection.id,
        run_id=event.run_id,
        organisation_id=connection.organisation_id,
        nominal_start_at=event.nominal_start_at,
        nominal_end_at=event.nominal_end_at,
        parent=event.parent,
    )
    return Applied(connection.id, event.run_id, event.event_type, changed=changed)
