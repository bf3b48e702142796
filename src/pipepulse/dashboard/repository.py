"""SQL for the dashboard's own arrangements: the organisation page's sparklines (one read of
the hourly rollups for every card) and the failing runs of a connection grouped by what they
said."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import Run, RunHourlyRollup
from pipepulse.kit import run_filters


async def events_per_hour(
    session: AsyncSession, organisation_id: int, connection_ids: Sequence[str], first_hour: datetime
) -> dict[str, dict[datetime, int]]:
    """Events delivered per connection and hour, for hours from ``first_hour`` on."""
    if not connection_ids:
        return {}
    r = RunHourlyRollup
    rows = await session.execute(
        select(r.connection_id, r.hour, r.events_delivered).where(
            r.organisation_id == organisation_id,
            r.connection_id.in_(connection_ids),
            r.hour >= first_hour,
        )
    )
    out: dict[str, dict[datetime, int]] = defaultdict(dict)
    for connection_id, hour, events in rows:
        out[connection_id][hour] = int(events)
    return out


@dataclass(frozen=True)
class FailingGroup:
    """Failing runs that finished in a range with the same outcome, error and DLQ count."""

    outcome: str  # partial, failed or orphaned
    error: str | None
    batches_dlq: int
    count: int
    first: datetime  # the earliest finished time (for an orphan, started_at + the window)
    last: datetime  # the latest
    newest_run_id: str
    newest_started_at: datetime


async def failing_groups(
    session: AsyncSession, connection_id: str, start: datetime, end: datetime, orphan_window: timedelta
) -> list[FailingGroup]:
    """The connection's failing runs whose time is in ``[start, end)``, grouped: two grouped
    reads (completed runs on the failing index, orphans on the pending index) and one read of
    the newest run of each group."""
    r = Run
    grouped = (
        await session.execute(
            select(
                r.outcome,
                r.error,
                r.batches_dlq,
                func.count(),
                func.min(r.completed_at),
                func.max(r.completed_at),
            )
            .where(
                r.connection_id == connection_id,
                r.outcome.in_(run_filters.FAILING_OUTCOMES),
                run_filters.completed_in(start, end),
            )
            .group_by(r.outcome, r.error, r.batches_dlq)
        )
    ).all()
    completed = [
        (outcome, error, dlq, int(n), first, last)
        for outcome, error, dlq, n, first, last in grouped
        if first is not None and last is not None
    ]
    orphans = (
        await session.execute(
            select(func.count(), func.min(r.started_at), func.max(r.started_at)).where(
                r.connection_id == connection_id,
                run_filters.orphans_finished_in(start, end, orphan_window),
            )
        )
    ).one()

    newest: dict[tuple[str, str | None, int], tuple[str, datetime]] = {}
    last_of: dict[tuple[str, str | None, int], datetime] = {
        (o, e, d): last for o, e, d, _, _, last in completed
    }
    last_times = sorted(set(last_of.values()))
    if last_times:
        found = await session.execute(
            select(r.outcome, r.error, r.batches_dlq, r.completed_at, r.id, r.started_at)
            .where(
                r.connection_id == connection_id,
                r.outcome.in_(("partial", "failed")),
                r.completed_at.in_(last_times),
            )
            .order_by(r.started_at, r.id)
        )
        for outcome, error, dlq, completed_at, run_id, started_at in found:
            if last_of.get((outcome, error, dlq)) == completed_at:
                newest[(outcome, error, dlq)] = (run_id, started_at)  # ordered: the newest wins
    groups = [
        FailingGroup(outcome, error, dlq, n, first, last, *newest[(outcome, error, dlq)])
        for outcome, error, dlq, n, first, last in completed
        if (outcome, error, dlq) in newest
    ]
    count, first_start, last_start = orphans
    if count and first_start is not None and last_start is not None:
        orphan_id = await session.scalar(
            select(r.id)
            .where(r.connection_id == connection_id, run_filters.unreported(), r.started_at == last_start)
            .order_by(r.id.desc())
            .limit(1)
        )
        if orphan_id is not None:
            groups.append(
                FailingGroup(
                    "orphaned",
                    None,
                    0,
                    int(count),
                    first_start + orphan_window,
                    last_start + orphan_window,
                    orphan_id,
                    last_start,
                )
            )
    return groups
