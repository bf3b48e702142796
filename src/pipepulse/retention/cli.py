"""``pipepulse retention``: apply the retention settings now, or say what they would delete."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pipepulse.cli_support import JsonFlag, emit, load_settings, with_database
from pipepulse.clock import utc_now
from pipepulse.db.session import Database
from pipepulse.retention import service as retention
from pipepulse.schemas import format_timestamp


def command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be deleted, per table, and the cutoffs.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete raw runs (and finished alert notifications and events) older than
    PIPEPULSE_RUN_RETENTION_DAYS and hourly rollups older than PIPEPULSE_ROLLUP_RETENTION_DAYS,
    in batches of at most 10,000 rows (the scheduler does this every tick)."""
    settings = load_settings()
    thresholds = settings.thresholds
    now = utc_now()
    cutoffs = retention.Cutoffs.at(now, thresholds)

    async def work(db: Database) -> retention.Deleted:
        if dry_run:
            async with db.session() as session:
                return await retention.preview(session, now, thresholds)
        return await retention.apply(db, thresholds, now)

    deleted = with_database(settings, work)
    payload: dict[str, Any] = {
        "dry_run": dry_run,
        "run_retention_days": settings.run_retention_days,
        "rollup_retention_days": settings.rollup_retention_days,
        "cutoffs": {
            "runs_completed_before": format_timestamp(cutoffs.runs_before),
            "orphans_started_before": format_timestamp(cutoffs.orphans_started_before),
            "hourly_rollups_before": format_timestamp(cutoffs.hours_before),
            "alert_history_before": format_timestamp(cutoffs.runs_before),
        },
        "connections": len(deleted.connections),
        "organisations": len(deleted.organisations),
        **deleted.counts(),
    }
    verb = "would delete" if dry_run else "deleted"
    emit(
        as_json,
        payload,
        f"{verb}: {deleted.runs} completed run(s) before {payload['cutoffs']['runs_completed_before']}, "
        f"{deleted.orphans} orphaned run(s) started before {payload['cutoffs']['orphans_started_before']} "
        f"(counted into the rollups first), {deleted.hourly_rollups} hourly and {deleted.event_rollups} "
        f"event rollup row(s) before {payload['cutoffs']['hourly_rollups_before']}, "
        f"across {len(deleted.connections)} connection(s); {deleted.notifications} finished "
        f"notification(s) and {deleted.alert_events} alert event(s) before "
        f"{payload['cutoffs']['alert_history_before']}; daily rollups are kept",
    )
