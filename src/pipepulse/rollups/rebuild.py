"""Recomputing the rollups from the raw runs (``pipepulse rollups rebuild``).

The reduction sums each run's :func:`~pipepulse.rollups.writer.contribution`, the very rows
the upserts add on completion, merged as the upserts merge them, so a rebuild after normal
operation changes nothing; it repairs rollups after a restore or a manual edit.

Only the part of history whose raw runs are all still kept is recomputed: the hours from
:attr:`~pipepulse.rollups.plan.Kept.raw_from` on and the whole days after it. Older rollups
are the only record of runs retention deleted (and of the orphans it rolled up), so they are
left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import EventHourlyRollup, Run, RunDailyRollup, RunHourlyRollup, WarehouseConnection
from pipepulse.db.run_rows import RUN_COLUMNS, RunRow
from pipepulse.rollups import settled
from pipepulse.rollups.plan import KEEP_ALL, Kept, ceil_day
from pipepulse.rollups.writer import HOURLY_ADDITIVE, RUN_COUNTS, contribution

INSERT_CHUNK = 1000


def _merge_hour(into: dict[str, Any], new: dict[str, Any]) -> None:
    """What the hourly upsert does on conflict, in Python."""
    for column in HOURLY_ADDITIVE:
        into[column] += new[column]
    into["latency_max_ms"] = max(into["latency_max_ms"], new["latency_max_ms"])
    if new["last_delivery_at"] is not None and (
        into["last_delivery_at"] is None or new["last_delivery_at"] > into["last_delivery_at"]
    ):
        into["last_delivery_at"] = new["last_delivery_at"]
    if new["events_pending_at"] is not None and (
        into["events_pending_at"] is None
        or (new["events_pending_at"], new["events_pending"])
        > (into["events_pending_at"], into["events_pending"])
    ):
        into["events_pending_at"], into["events_pending"] = new["events_pending_at"], new["events_pending"]


def reduce_runs(
    runs: Iterable[RunRow],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(hourly rows, event rows, daily rows) for the given completed runs."""
    hours: dict[tuple[Any, ...], dict[str, Any]] = {}
    events: dict[tuple[Any, ...], dict[str, Any]] = {}
    days: dict[tuple[Any, ...], dict[str, Any]] = {}
    for run in runs:
        rows = contribution(run)
        key = (run.connection_id, rows.hourly["hour"])
        if key in hours:
            _merge_hour(hours[key], rows.hourly)
        else:
            hours[key] = dict(rows.hourly)
        day_key = (run.connection_id, rows.daily["day"])
        if day_key in days:
            for column in RUN_COUNTS:
                days[day_key][column] += rows.daily[column]
        else:
            days[day_key] = dict(rows.daily)
        for event in rows.events:
            event_key = (run.connection_id, event["hour"], event["event_type"])
            if event_key in events:
                events[event_key]["events"] += event["events"]
            else:
                events[event_key] = dict(event)
    return list(hours.values()), list(events.values()), list(days.values())


@dataclass(frozen=True)
class RebuildCounts:
    connections: int
    runs: int
    hourly_rows: int
    daily_rows: int
    hours_from: datetime | None = None  # older rollups were kept as they were


async def rebuild(
    session: AsyncSession, connection_id: str | None = None, store: Kept = KEEP_ALL
) -> RebuildCounts:
    """Replace the rollups of one connection (or all) with ones recomputed from raw runs,
    for the hours whose raw runs ``store`` still keeps."""
    hours_from = store.raw_from
    days_from = ceil_day(hours_from) if hours_from > KEEP_ALL.raw_from else hours_from
    query = select(WarehouseConnection.id)
    if connection_id is not None:
        query = query.where(WarehouseConnection.id == connection_id)
    ids = list((await session.scalars(query.order_by(WarehouseConnection.id))).all())
    totals = [0, 0, 0]
    for cid in ids:
        for hourly_table in (RunHourlyRollup, EventHourlyRollup):
            await session.execute(
                delete(hourly_table).where(hourly_table.connection_id == cid, hourly_table.hour >= hours_from)
            )
        await session.execute(
            delete(RunDailyRollup).where(RunDailyRollup.connection_id == cid, RunDailyRollup.day >= days_from)
        )
        rows = await session.execute(
            select(*RUN_COLUMNS).where(Run.connection_id == cid, Run.completed_at >= hours_from)
        )
        runs = [RunRow.from_row(row) for row in rows]
        hourly, event_rows, daily = reduce_runs(runs)
        daily = [row for row in daily if row["day"] >= days_from]
        for table, values in (
            (RunHourlyRollup, hourly),
            (EventHourlyRollup, event_rows),
            (RunDailyRollup, daily),
        ):
            for i in range(0, len(values), INSERT_CHUNK):
                await session.execute(insert(table), values[i : i + INSERT_CHUNK])
        totals[0] += len(runs)
        totals[1] += len(hourly)
        totals[2] += len(daily)
    # Every rebuilt hour may be one that organisation health keeps.
    organisations = select(WarehouseConnection.organisation_id).distinct()
    if connection_id is not None:
        organisations = organisations.where(WarehouseConnection.id == connection_id)
    await settled.bump(session, await session.scalars(organisations))
    await session.flush()
    return RebuildCounts(
        connections=len(ids),
        runs=totals[0],
        hourly_rows=totals[1],
        daily_rows=totals[2],
        hours_from=None if store is KEEP_ALL else hours_from,
    )
