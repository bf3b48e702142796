"""What a connection's Streaming Status page shows: why it has its status and what to do, the
last 24 hours, the status history and hourly chart, the errors of the week and the runs table.

Nothing here decides a status, an outcome or a window: those come from ``telemetry.service``,
``watch.service`` and ``runs``. This module only arranges their answers for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts import fingerprints
from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections import service as connections_service
from pipepulse.connections.repository import ConnectionRef
from pipepulse.dashboard import advice, charts
from pipepulse.dashboard import repository as dashboard_repository
from pipepulse.dashboard.chart_range import ChartRange
from pipepulse.dashboard.chart_series import hourly_chart
from pipepulse.dashboard.repository import FailingGroup
from pipepulse.db.models import Organisation, WarehouseConnection
from pipepulse.history import service as watch_service
from pipepulse.organisations import service as organisations_service
from pipepulse.rollups.plan import rolling
from pipepulse.rules import TOTAL, WEEK, Thresholds, error_message
from pipepulse.runs.paging import RunKey, RunsPage, format_key, runs_page
from pipepulse.telemetry import service as telemetry_service
from pipepulse.telemetry.schemas import RecentError, Telemetry

RUN_FILTERS: Final[dict[str, str]] = {"all": "All runs", "failing": "Failing runs only"}


@dataclass(frozen=True)
class EventRow:
    event_type: str
    last_24h: int
    last_7d: int


def event_rows(result: Telemetry) -> list[EventRow]:
    names = [k for k in result.events_last_7d if k != TOTAL]
    names += [k for k in result.events_last_24h if k != TOTAL and k not in names]
    return [
        EventRow(name, result.events_last_24h.get(name, 0), result.events_last_7d.get(name, 0))
        for name in names
    ]


@dataclass(frozen=True)
class ErrorGroup:
    """Failing runs of the last 7 days that said the same thing."""

    message: str
    count: int
    first: datetime
    last: datetime
    run_id: str  # the newest of them
    run_key: str  # its place in the runs list


def error_groups(groups: Sequence[FailingGroup], orphan_window: timedelta, limit: int) -> list[ErrorGroup]:
    """Groups by each run's error fingerprint (SPEC §7.4, the label alerts are grouped by), the
    most recent first; a group reads as its newest run's ``recent_errors`` message."""
    merged: dict[str, list[FailingGroup]] = {}
    for g in groups:
        found = fingerprints.of_run(g.outcome, g.error)
        assert found is not None
        merged.setdefault(found[0], []).append(g)
    out = []
    for parts in merged.values():
        newest = max(parts, key=lambda g: (g.last, g.newest_started_at, g.newest_run_id))
        message = error_message(newest.outcome, newest.error, newest.batches_dlq, orphan_window)
        assert message is not None
        out.append(
            ErrorGroup(
                message=message,
                count=sum(g.count for g in parts),
                first=min(g.first for g in parts),
                last=newest.last,
                run_id=newest.newest_run_id,
                run_key=format_key(newest.newest_started_at, newest.newest_run_id),
            )
        )
    out.sort(key=lambda e: (e.last, e.run_id), reverse=True)
    return out[:limit]


@dataclass(frozen=True)
class Last24h:
    """The last 24 hours' failing runs and dead-lettered batches, apart (the API's
    ``failed_deliveries_last_24h`` adds batches to failed and orphaned runs)."""

    failing_runs: int
    failed: int
    orphaned: int
    partial: int
    batches_dlq: int
    failed_deliveries: int


@dataclass(frozen=True)
class Banner:
    """What the status panel says: why (the latest error), what to do, and where to look."""

    hint: str
    latest_error: RecentError | None
    paused: bool


@dataclass(frozen=True)
class ConnectionPage:
    organisation: Organisation
    connection: WarehouseConnection
    telemetry: Telemetry
    reason: str
    banner: Banner
    last_24h: Last24h
    event_rows: list[EventRow]
    chart: charts.StackedBars
    range: ChartRange
    history: watch_service.StatusHistory
    band: charts.StatusBand
    health: watch_service.Health
    errors: list[ErrorGroup]
    runs: RunsPage

    @property
    def params(self) -> dict[str, str | None]:
        """The page's own query (range and runs filter): what every link on it keeps."""
        return {**self.range.params, "runs": "failing" if self.runs.failing_only else None}


async def connection_page(
    session: AsyncSession,
    principal: UserPrincipal,
    organisation_id: int,
    connection_id: str,
    *,
    now: datetime,
    thresholds: Thresholds,
    range_: ChartRange,
    cursor: tuple[str, RunKey] | None = None,
    failing_only: bool = False,
) -> ConnectionPage:
    organisation = await organisations_service.get_visible(session, principal, organisation_id)
    connection = await connections_service.get_visible(session, principal, organisation_id, connection_id)
    snapshot = (await telemetry_service.snapshots(session, [ConnectionRef.of(connection)], now, thresholds))[
        connection.id
    ]
    result, day = snapshot.telemetry, snapshot.day

    chart = await hourly_chart(session, connection, now, thresholds, range_.first_hour, range_.last_hour)
    history = await watch_service.status_history(
        session, connection, range_.start, range_.end, now, thresholds
    )
    health = await watch_service.health(session, connection, now, thresholds)
    week = rolling(now, WEEK)
    groups = await dashboard_repository.failing_groups(
        session, connection.id, week.start, week.end, thresholds.orphan_window
    )
    # Why it fails: the newest failing run's message, while the status says something fails.
    failing_now = result.status in ("error", "degraded") and result.recent_errors
    latest_error = result.recent_errors[0] if failing_now else None
    return ConnectionPage(
        organisation=organisation,
        connection=connection,
        telemetry=result,
        reason=health.current.reason.text,
        banner=Banner(
            hint=advice.hint(
                health.current.reason.code,
                late_by_seconds=int(health.freshness.late_by.total_seconds()) if health.freshness.late else 0,
                sla_seconds=int(health.freshness.sla.total_seconds()),
                volume_verdict=health.volume.verdict,
                latest_error=latest_error.message if latest_error is not None else None,
            ),
            latest_error=latest_error,
            paused=connection.state == "paused",
        ),
        last_24h=Last24h(
            failing_runs=day.failing,
            failed=day.failed,
            orphaned=day.orphaned,
            partial=day.partial,
            batches_dlq=day.batches_dlq,
            failed_deliveries=result.failed_deliveries_last_24h,
        ),
        event_rows=event_rows(result),
        chart=chart,
        range=range_,
        history=history,
        band=charts.status_band(history.intervals, history.start, history.end, left=chart.plot_left),
        health=health,
        errors=error_groups(groups, thresholds.orphan_window, thresholds.recent_errors_limit),
        runs=await runs_page(
            session, connection, cursor=cursor, failing_only=failing_only, now=now, thresholds=thresholds
        ),
    )
