"""Objectives (SPEC §7.6): which apply to a connection, and their budgets read from the one
status timeline (§7.1) and the freshness rule (§7.2). Flushes, never commits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import Objective, Organisation, WarehouseConnection
from pipepulse.errors import Invalid, NotFound
from pipepulse.objectives import budget as budget_rules
from pipepulse.objectives import repository, sli
from pipepulse.objectives.spans import Span
from pipepulse.rules import DAY, Thresholds
from pipepulse.status import repository as status_repository
from pipepulse.status.timeline import TICK, in_order, timeline
from pipepulse.status.verdicts import freshness_sla

# Bounds what one connection (or one organisation's defaults) may hold: each is read on every
# status read and alert pass.
MAX_OBJECTIVES = 20


@dataclass(frozen=True)
class Applied:
    """An objective as it applies to a connection: its own, or its organisation's default."""

    objective: Objective
    inherited: bool


async def create(
    session: AsyncSession,
    organisation_id: int,
    connection_id: str | None,
    indicator: str,
    target_percent: float,
    window_days: int,
    now: datetime,
) -> Objective:
    if await repository.count(session, organisation_id, connection_id) >= MAX_OBJECTIVES:
        owner = "organisation's defaults" if connection_id is None else "connection"
        raise Invalid(
            f"this {owner} already holds {MAX_OBJECTIVES} objectives, the most allowed; delete one first"
        )
    row = Objective(
        id=f"obj_{secrets.token_hex(8)}",
        organisation_id=organisation_id,
        connection_id=connection_id,
        indicator=indicator,
        target_percent=target_percent,
        window_days=window_days,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def defaults(session: AsyncSession, organisation_id: int) -> list[Objective]:
    """The organisation's default objectives."""
    return await repository.of_organisation(session, organisation_id)


async def applying(session: AsyncSession, connection: WarehouseConnection) -> list[Applied]:
    """The connection's own objectives, or, when it has none, its organisation's defaults."""
    own = await repository.of_connection(session, connection.organisation_id, connection.id)
    if own:
        return [Applied(o, inherited=False) for o in own]
    return [
        Applied(o, inherited=True)
        for o in await repository.of_organisation(session, connection.organisation_id)
    ]


async def get_applying(session: AsyncSession, connection: WarehouseConnection, objective_id: str) -> Applied:
    for applied in await applying(session, connection):
        if applied.objective.id == objective_id:
            return applied
    raise NotFound("objective not found for this connection")


async def get_own(
    session: AsyncSession, organisation_id: int, connection_id: str | None, objective_id: str
) -> Objective:
    """An objective held by exactly this connection (or, for None, the organisation's default)."""
    found = await repository.get(session, organisation_id, objective_id)
    if found is None or found.connection_id != connection_id:
        raise NotFound("objective not found")
    return found


async def delete(session: AsyncSession, objective: Objective) -> None:
    await session.delete(objective)
    await session.flush()


def labels(
    connection: WarehouseConnection, organisation: Organisation, indicator: sli.Indicator
) -> dict[str, str]:
    """The labels the connection's alert for the indicator's condition would carry (§7.4), for
    matching maintenance windows."""
    return {
        "organisation": organisation.slug,
        "connection": connection.id,
        "type": connection.type,
        "integration_type": connection.integration_type,
        "condition": sli.CONDITION[indicator],
    }


async def bad_time(
    session: AsyncSession,
    connection: WarehouseConnection,
    indicator: sli.Indicator,
    start: datetime,
    now: datetime,
    thresholds: Thresholds,
) -> list[Span]:
    """The indicator's bad time over ``[start, now)``."""
    lo = start - DAY - TICK  # the timeline at ``start`` rests on the day before it
    runs = in_order(
        await status_repository.finished_runs_of(session, connection.id, lo, now, thresholds.orphan_window)
    )
    if indicator == "availability":
        return sli.error_spans(timeline(runs, start, now, thresholds).intervals)
    prior = await status_repository.last_delivery(session, connection.id, lo)
    delivered = [r.completed_at for r in runs if r.completed_at is not None and r.events_delivered > 0]
    deliveries = sorted([prior, *delivered] if prior is not None else delivered)
    sla = freshness_sla(
        connection.freshness_sla_seconds, connection.schedule_interval_seconds, thresholds.orphan_window
    )
    return sli.late_spans(deliveries, connection.created_at, sla, connection.state, now)


async def status(
    session: AsyncSession,
    connection: WarehouseConnection,
    objective: Objective,
    now: datetime,
    thresholds: Thresholds,
) -> budget_rules.Budget:
    """SPEC §7.6's status read: the budget over the window ending now, exact to the microsecond."""
    indicator: sli.Indicator = "freshness" if objective.indicator == "freshness" else "availability"
    window = timedelta(days=objective.window_days)
    start = now - window
    organisation = await session.get(Organisation, connection.organisation_id)
    assert organisation is not None
    windows = await repository.maintenance_windows(session, connection.organisation_id)
    excluded = sli.maintenance_spans(windows, labels(connection, organisation, indicator), start, now)
    bad = await bad_time(session, connection, indicator, start, now, thresholds)
    return budget_rules.budget(bad, excluded, now, window, objective.target_percent)
