"""The connection page's hourly chart, taken from the metrics API's timeseries and handed to
``charts.stacked_bars`` for its geometry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.connections.repository import ConnectionRef
from pipepulse.dashboard import charts
from pipepulse.db.models import WarehouseConnection
from pipepulse.metrics import service as metrics_service
from pipepulse.rollups.plan import HOUR
from pipepulse.rules import Thresholds


async def hourly_chart(
    session: AsyncSession,
    connection: WarehouseConnection,
    now: datetime,
    thresholds: Thresholds,
    first: datetime,
    last: datetime,
) -> charts.StackedBars:
    """Events per hour by type and failing runs per hour, for the hours from ``first`` to
    ``last``, from the metrics API's timeseries; the hour containing ``now`` is marked partial."""
    chart_hours = int((last - first) / HOUR) + 1
    _query, buckets = metrics_service.resolve(
        time_type="timeseries",
        time_interval=1,
        time_unit="hour",
        timestamp_from=first,
        timestamp_to=last + HOUR,
        now=now,
    )
    series = await metrics_service.timeseries(session, ConnectionRef.of(connection), buckets, now, thresholds)
    hours = [b.label for b in buckets]
    by_type: dict[datetime, dict[str, int]] = {hour: {} for hour in hours}
    breakdown, failed_runs = series["events_by_type"], series["failed_runs"]
    assert isinstance(breakdown, dict)
    assert isinstance(failed_runs, list)
    for event_type, points in breakdown.items():
        for point in points:
            if point["value"]:
                by_type[point["timestamp"]][event_type] = int(point["value"])  # type: ignore[call-overload]
    failing = {p["timestamp"]: int(p["value"]) for p in failed_runs if p["value"]}  # type: ignore[call-overload]
    return charts.stacked_bars(
        hours, by_type, failing, connection.event_types, pitch=charts.PLOT_WIDTH / chart_hours, now=now
    )
