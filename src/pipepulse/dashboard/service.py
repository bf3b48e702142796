"""What each dashboard page shows, assembled from the same services as the JSON API.

Nothing here decides a status, an outcome or a window: those come from
``telemetry.service`` and ``runs.service``. This module only arranges their answers for
people (order, wording, chart geometry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections import repository as connections_repository
from pipepulse.connections import service as connections_service
from pipepulse.connections.repository import ConnectionRef
from pipepulse.dashboard import charts
from pipepulse.dashboard import repository as dashboard_repository
from pipepulse.db.models import Organisation, WarehouseConnection
from pipepulse.health import service as health_service
from pipepulse.health.schemas import OrganisationHealth
from pipepulse.metrics import service as metrics_service
from pipepulse.organisations import service as organisations_service
from pipepulse.rollups.plan import HOUR, floor_hour
from pipepulse.rules import STATUSES, TOTAL, Status, Thresholds, severity
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import RunOut
from pipepulse.telemetry import service as telemetry_service
from pipepulse.telemetry.schemas import Telemetry
from pipepulse.telemetry.service import StatusBasis
from pipepulse.watch import reasons
from pipepulse.watch import service as watch_service
from pipepulse.watch.verdicts import Freshness, Volume

# Problems first: a broken pipeline, then a struggling one, then one that has gone quiet.
STATUS_ORDER: Final[tuple[Status, ...]] = tuple(reversed(STATUSES))
STATUS_WORDS: Final[dict[str, str]] = {
    "error": "Error",
    "degraded": "Degraded",
    "idle": "Idle",
    "active": "Active",
}
MAX_CARDS = 500  # organisations listed for a platform token
CARDS_PER_PAGE = 48
RUNS_PAGE_SIZE = 25
SPARKLINE_HOURS = 24
PERIODS: Final[dict[str, timedelta]] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
PERIOD_WORDS: Final[dict[str, str]] = {"24h": "last 24 h", "7d": "last 7 days", "30d": "last 30 days"}
DEFAULT_PERIOD: Final = "7d"
HEALTH_DAYS: Final[tuple[int, ...]] = (1, 7, 30, 90)


def status_reason(
    status: Status,
    basis: StatusBasis,
    last_delivery_at: datetime | None,
    now: datetime,
    *,
    any_finished: bool = True,
) -> str:
    """Why the connection has its status now, in the words the API uses (``watch.reasons``)."""
    return reasons.status_reason(
        status, basis, last_delivery_at=last_delivery_at, any_finished=any_finished, now=now
    ).text


def status_rank(status: str) -> int:
    """Problems first: the most severe status sorts first."""
    return -severity(status)


@dataclass(frozen=True)
class Card:
    connection: WarehouseConnection
    telemetry: Telemetry
    reason: str
    sparkline: charts.Sparkline
    freshness: Freshness
    volume: Volume


@dataclass(frozen=True)
class StatusCount:
    status: str
    word: str
    count: int


@dataclass(frozen=True)
class OrganisationPage:
    organisation: Organisation
    cards: list[Card]
    counts: list[StatusCount]
    total_connections: int
    cards_page: int
    cards_pages: int
    status_filter: str | None
    health: OrganisationHealth
    health_days: int


def sort_cards(cards: Sequence[Card]) -> list[Card]:
    return sorted(
        cards, key=lambda c: (status_rank(c.telemetry.status), c.connection.name.lower(), c.connection.id)
    )


async def organisation_page(
    session: AsyncSession,
    principal: UserPrincipal,
    organisation_id: int,
    *,
    now: datetime,
    thresholds: Thresholds,
    status_filter: str | None,
    health_days: int,
    cards_page: int = 1,
) -> OrganisationPage:
    """Counts and order come from every connection's status (batched, as the bulk API computes
    them); full telemetry, reasons and sparklines only for the page of cards shown."""
    organisation = await organisations_service.get_visible(session, principal, organisation_id)
    connections, total = await connections_repository.page(session, organisation.id, offset=0, limit=None)
    engine = await telemetry_service.statuses(
        session, [ConnectionRef.of(c) for c in connections], now, thresholds
    )
    statuses = {cid: s.status for cid, s in engine.items()}
    counts = [
        StatusCount(status=s, word=STATUS_WORDS[s], count=sum(1 for v in statuses.values() if v == s))
        for s in STATUS_ORDER
    ]
    chosen = [c for c in connections if status_filter is None or statuses[c.id] == status_filter]
    chosen.sort(key=lambda c: (status_rank(statuses[c.id]), c.name.lower(), c.id))
    pages = max(1, -(-len(chosen) // CARDS_PER_PAGE))
    cards_page = min(max(cards_page, 1), pages)
    shown = chosen[(cards_page - 1) * CARDS_PER_PAGE : cards_page * CARDS_PER_PAGE]

    hours = charts.hours_back(floor_hour(now), SPARKLINE_HOURS)
    per_hour = await dashboard_repository.events_per_hour(
        session, organisation.id, [c.id for c in shown], hours[0]
    )
    snapshots = await telemetry_service.snapshots(
        session, [ConnectionRef.of(c) for c in shown], now, thresholds
    )
    volumes = await watch_service.volumes(session, [c.id for c in shown], now, thresholds)
    cards = []
    for connection in shown:
        snapshot = snapshots[connection.id]
        result, basis = snapshot.telemetry, snapshot.status.basis
        series = per_hour.get(connection.id, {})
        cards.append(
            Card(
                connection=connection,
                telemetry=result,
                reason=status_reason(
                    result.status,
                    basis,
                    result.last_delivery_at,
                    now,
                    any_finished=basis.finished_runs_last_24h > 0 or snapshot.status.latest_run is not None,
                ),
                sparkline=charts.sparkline([series.get(h, 0) for h in hours]),
                freshness=watch_service.connection_freshness(
                    connection, result.last_delivery_at, now, thresholds
                ),
                volume=volumes[connection.id],
            )
        )
    return OrganisationPage(
        organisation=organisation,
        cards=sort_cards(cards),
        counts=counts,
        total_connections=total,
        cards_page=cards_page,
        cards_pages=pages,
        status_filter=status_filter,
        health=await health_service.organisation_health(session, organisation, now, health_days, thresholds),
        health_days=health_days,
    )


@dataclass(frozen=True)
class EventRow:
    event_type: str
    last_24h: int
    last_7d: int


@dataclass(frozen=True)
class ConnectionPage:
    organisation: Organisation
    connection: WarehouseConnection
    telemetry: Telemetry
    reason: str
    event_rows: list[EventRow]
    chart: charts.StackedBars
    period: str
    history: watch_service.StatusHistory
    band: charts.StatusBand
    health: watch_service.Health
    runs: list[RunOut]
    runs_page: int
    runs_pages: int
    runs_total: int


def event_rows(result: Telemetry) -> list[EventRow]:
    names = [k for k in result.events_last_7d if k != TOTAL]
    names += [k for k in result.events_last_24h if k != TOTAL and k not in names]
    return [
        EventRow(name, result.events_last_24h.get(name, 0), result.events_last_7d.get(name, 0))
        for name in names
    ]


async def hourly_chart(
    session: AsyncSession,
    connection: WarehouseConnection,
    now: datetime,
    thresholds: Thresholds,
    period: str = DEFAULT_PERIOD,
) -> charts.StackedBars:
    """Events per hour by type and failing runs per hour, from the metrics API's timeseries."""
    current = floor_hour(now)
    chart_hours = int(PERIODS[period] / HOUR)
    _query, buckets = metrics_service.resolve(
        time_type="timeseries",
        time_interval=1,
        time_unit="hour",
        timestamp_from=current - (chart_hours - 1) * HOUR,
        timestamp_to=current + HOUR,
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
        hours, by_type, failing, connection.event_types, pitch=charts.PLOT_WIDTH / chart_hours
    )


async def connection_page(
    session: AsyncSession,
    principal: UserPrincipal,
    organisation_id: int,
    connection_id: str,
    *,
    now: datetime,
    thresholds: Thresholds,
    page: int,
    period: str = DEFAULT_PERIOD,
) -> ConnectionPage:
    organisation = await organisations_service.get_visible(session, principal, organisation_id)
    connection = await connections_service.get_visible(session, principal, organisation_id, connection_id)
    snapshot = (await telemetry_service.snapshots(session, [ConnectionRef.of(connection)], now, thresholds))[
        connection.id
    ]
    result = snapshot.telemetry

    chart = await hourly_chart(session, connection, now, thresholds, period)
    history = await watch_service.status_history(
        session, connection, now - PERIODS[period], now, now, thresholds
    )
    health = await watch_service.health(session, connection, now, thresholds)

    rows, total = await runs_service.list_page(
        session,
        connection,
        offset=(page - 1) * RUNS_PAGE_SIZE,
        limit=RUNS_PAGE_SIZE,
        outcome=None,
        now=now,
        thresholds=thresholds,
    )
    return ConnectionPage(
        organisation=organisation,
        connection=connection,
        telemetry=result,
        reason=health.current.reason.text,
        event_rows=event_rows(result),
        chart=chart,
        period=period,
        history=history,
        band=charts.status_band(history.intervals, history.start, history.end, left=chart.plot_left),
        health=health,
        runs=[runs_service.to_out(r, now, thresholds) for r in rows],
        runs_page=page,
        runs_pages=max(1, -(-total // RUNS_PAGE_SIZE)),
        runs_total=total,
    )


async def visible_organisations(session: AsyncSession, principal: UserPrincipal) -> Sequence[Organisation]:
    rows, _total = await organisations_service.list_visible(session, principal, offset=0, limit=MAX_CARDS)
    return rows
