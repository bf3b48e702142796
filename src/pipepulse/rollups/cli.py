"""``pipepulse rollups …``: maintenance of the telemetry rollups."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pipepulse.cli_support import JsonFlag, emit, load_settings, with_database
from pipepulse.clock import utc_now
from pipepulse.db.session import Database
from pipepulse.rollups import plan
from pipepulse.rollups import rebuild as rebuild_service
from pipepulse.schemas import format_timestamp

app = typer.Typer(help="Telemetry rollups.", no_args_is_help=True)


@app.command("rebuild")
def rebuild(
    connection: Annotated[
        str | None, typer.Option("--connection", help="Only this connection id (default: all).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Recompute the hourly and daily rollups from the raw runs, in one transaction.

    Only the hours within PIPEPULSE_RUN_RETENTION_DAYS are recomputed: older rollups are the
    only record of the runs retention deleted, and are kept as they are.
    """
    settings = load_settings()
    t = settings.thresholds
    store = plan.kept(utc_now(), t.run_retention, t.rollup_retention)

    async def work(db: Database) -> dict[str, Any]:
        async with db.session(write=True) as session:
            counts = await rebuild_service.rebuild(session, connection, store)
        return {
            "connections": counts.connections,
            "runs": counts.runs,
            "hourly_rows": counts.hourly_rows,
            "daily_rows": counts.daily_rows,
            "from": format_timestamp(store.raw_from),
        }

    result = with_database(settings, work)
    emit(
        as_json,
        result,
        f"rebuilt rollups of {result['connections']} connection(s) from {result['runs']} completed run(s): "
        f"{result['hourly_rows']} hourly and {result['daily_rows']} daily row(s) from {result['from']} on "
        "(older rollups kept: their raw runs are past retention)",
    )
