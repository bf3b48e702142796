"""What a run's page shows: every field the API gives, its outcome explained, and whether it
counts in the connection's last 24 hours and 7 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections import service as connections_service
from pipepulse.dashboard import advice
from pipepulse.db.models import Organisation, WarehouseConnection
from pipepulse.organisations import service as organisations_service
from pipepulse.rules import DAY, WEEK, Thresholds, in_window, typed_events
from pipepulse.runs import service as runs_service
from pipepulse.runs.paging import format_key
from pipepulse.runs.schemas import RunOut


@dataclass(frozen=True)
class RunPage:
    organisation: Organisation
    connection: WarehouseConnection
    run: RunOut
    key: str
    explanation: str
    typed_events: dict[str, int]
    in_last_24h: bool
    in_last_7d: bool


async def run_page(
    session: AsyncSession,
    principal: UserPrincipal,
    organisation_id: int,
    connection_id: str,
    run_id: str,
    *,
    now: datetime,
    thresholds: Thresholds,
) -> RunPage:
    """One run with every field the API gives, its outcome explained."""
    organisation = await organisations_service.get_visible(session, principal, organisation_id)
    connection = await connections_service.get_visible(session, principal, organisation_id, connection_id)
    stored = await runs_service.get(session, connection, run_id, now=now, retention=thresholds.run_retention)
    run = runs_service.to_out(stored, now, thresholds)
    finished = run.finished_at
    return RunPage(
        organisation=organisation,
        connection=connection,
        run=run,
        key=format_key(run.started_at, run.id),
        explanation=advice.outcome_explanation(
            run.outcome, run.batches_dlq, run.started_at, thresholds.orphan_window
        ),
        typed_events=typed_events(run.events_delivered, run.events_by_type),
        in_last_24h=finished is not None and in_window(finished, now, DAY),
        in_last_7d=finished is not None and in_window(finished, now, WEEK),
    )
