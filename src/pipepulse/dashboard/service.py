"""What each dashboard page shows, assembled from the same services as the JSON API.

Nothing here decides a status, an outcome or a window: those come from
``telemetry.service`` and ``runs.service``. This module only arranges their answers for
people (order, wording, chart geometry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections import repository as connections_repository
from pipepulse.connections import service as connections_service
from pipepulse.connections.repository import ConnectionRef
from pipepulse.dashboard import advice, charts
from pipepulse.dashboard import repository as dashboard_repository
from pipepulse.dashboard.params import BadParameter, RunKey, format_key
from pipepulse.dashboard.repository import FailingGroup
from pipepulse.db.models import Organisation, Run, WarehouseConnection
from pipepulse.errors import Invalid
from pipepulse.health import service as health_service
from pipepulse.health.schemas import OrganisationHealth
from pipepulse.metrics import service as metrics_service
from pipepulse.organisations import service as organisations_service
from pipepulse.rollups.plan import HOUR, floor_hour, rolling
from pipepulse.rules import (
    DAY,
    STATUSES,
    TOTAL,
    WEEK,
    Status,
    Thresholds,
    error_message,
    in_window,
    severity,
    typed_events,
)
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import RunOut
from pipepulse.status import reasons
from pipepulse.telemetry import service as telemetry_service
from pipepulse.telemetry.schemas import RecentError, Telemetry
from pipepulse.telemetry.service import StatusBasis
from pipepulse.watch import service as watch_service
from pipepulse.watch.alerts import fingerprints
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
PERIOD_WORDS: Final[dict[str, str]] = {"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days"}
PERIOD_LABELS: Final[dict[str, str]] = {"24h": "24 h", "7d": "7 days", "30d": "30 days"}
DEFAULT_PERIOD: Final = "7d"
MAX_CHART_DAYS: Final = 31  # a chosen range of days: at most a month of hourly bars
DEFAULT_HEALTH_DAYS: Final = 30
HEALTH_DAY_LABELS: Final[dict[str, str]] = {"1": "24 h", "7": "7 days", "30": "30 days", "90": "90 days"}
RUN_FILTERS: Final[dict[str, str]] = {"all": "All runs", "failing": "Failing runs only"}


def period_words(days: int) -> str:
    """'last 24 hours' for one day, else 'last 7 days'."""
    return "last 24 hours" if days == 1 else f"last {days:,} days"


def status_reason(
    status: Status,
    basis: StatusBasis,
    last_delivery_at: datetime | None,
    now: datetime,
    *,
    any_finished: bool = True,
) -> str:
    """Why the connection has its status now, in the words the API uses (``status.reasons``)."""
    return reasons.status_reason(
        status, basis, last_delivery_at=last_delivery_at, any_finished=any_finished, now=now
    ).text


def card_reason(
    connection: WarehouseConnection,
    status: Status,
    basis: StatusBasis,
    last_delivery_at: datetime | None,
    now: datetime,
    *,
    any_finished: bool,
) -> str:
    """A card's sentence: the status reason, led by "Paused" when nothing is scheduled."""
    reason = reasons.status_reason(
        status, basis, last_delivery_at=last_delivery_at, any_finished=any_finished, now=now
    )
    return (reasons.paused(reason) if connection.state == "paused" else reason).text


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

    @property
    def params(self) -> dict[str, str | None]:
        """The page's own query (filter and health period): what every link on it keeps."""
        days = str(self.health_days) if self.health_days != DEFAULT_HEALTH_DAYS else None
        return {"status": self.status_filter, "days": days}


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
                reason=card_reason(
                    connection,
                    result.status,
                    basis,
                    result.last_delivery_at,
                    now,
                    any_finished=basis.finished_runs_last_24h > 0 or snapshot.status.latest_run is not None,
                ),
                sparkline=charts.sparkline([series.get(h, 0) for h in hours], last_partial=True),
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


def event_rows(result: Telemetry) -> list[EventRow]:
    names = [k for k in result.events_last_7d if k != TOTAL]
    names += [k for k in result.events_last_24h if k != TOTAL and k not in names]
    return [
        EventRow(name, result.events_last_24h.get(name, 0), result.events_last_7d.get(name, 0))
        for name in names
    ]


@dataclass(frozen=True)
class ChartRange:
    """The stretch of time the status history and the hourly chart show: a preset period
    ending now, or whole UTC days chosen on the page."""

    period: str | None  # "24h", "7d", "30d", or None for chosen days
    first_day: date | None
    last_day: date | None
    start: datetime
    end: datetime  # exclusive, at most now
    words: str  # "last 7 days", "10-15 Apr 2026" (with an en dash)
    first_hour: datetime  # the chart's first hourly bar
    last_hour: datetime  # and its last: the current hour when the range ends now

    @property
    def params(self) -> dict[str, str | None]:
        if self.period is not None:
            return {"period": self.period if self.period != DEFAULT_PERIOD else None}
        assert self.first_day is not None
        assert self.last_day is not None
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()}


DASH: Final = "\N{EN DASH}"
DAYS: Final = ("from", "to")  # a wrong range of days: offer the page without it


def days_words(first: date, last: date) -> str:
    if first == last:
        return f"{first.day} {first:%b %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}{DASH}{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} {DASH} {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} {DASH} {last.day} {last:%b %Y}"


def chart_range(
    period: str | None, first_day: date | None, last_day: date | None, now: datetime, thresholds: Thresholds
) -> ChartRange:
    """The range asked for, or a 400 saying what to change (within what the status history
    accepts: at most MAX_CHART_DAYS whole days, not in the future, inside raw retention)."""
    if first_day is None and last_day is None:
        key = period or DEFAULT_PERIOD
        # A period of n hours draws n bars, the last one the current hour.
        last = floor_hour(now)
        first = last - PERIODS[key] + HOUR
        return ChartRange(key, None, None, now - PERIODS[key], now, PERIOD_WORDS[key], first, last)
    if period is not None:
        raise BadParameter(
            "period",
            "Choose either a period or a range of days (from and to), not both.",
            drop=("from", "to"),
        )
    if first_day is None or last_day is None:
        missing = "from" if first_day is None else "to"
        raise BadParameter(missing, "A range of days needs both from and to (YYYY-MM-DD, UTC).", drop=DAYS)
    today = now.date()
    if first_day > last_day:
        raise BadParameter(
            "from",
            f"The first day, from={first_day}, must be on or before the last, to={last_day}.",
            drop=DAYS,
        )
    if last_day > today:
        raise BadParameter(
            "to",
            f"The last day, to={last_day}, is in the future; the latest is today, {today} (UTC).",
            drop=DAYS,
        )
    if (last_day - first_day).days + 1 > MAX_CHART_DAYS:
        raise BadParameter("from", f"A range of days may span at most {MAX_CHART_DAYS} days.", drop=DAYS)
    start = datetime.combine(first_day, time(), tzinfo=UTC)
    end = min(datetime.combine(last_day, time(), tzinfo=UTC) + DAY, now)
    try:
        watch_service.resolve_range(start, end, now, thresholds)
    except Invalid as exc:
        raise BadParameter("from", exc.detail[:1].upper() + exc.detail[1:], drop=DAYS) from None
    last = floor_hour(now) if end == now else end - HOUR
    return ChartRange(None, first_day, last_day, start, end, days_words(first_day, last_day), start, last)


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
class RunsPage:
    """One page of the runs table, found by its place in the newest-first order (keyset):
    runs that arrive meanwhile never move the rows of a page past the first."""

    rows: list[RunOut]
    keys: dict[str, str]  # run id → its key
    newest: bool  # no run is newer than the first row: this is the live head of the list
    has_older: bool
    total: int
    failing_only: bool

    @property
    def first_key(self) -> str | None:
        return self.keys[self.rows[0].id] if self.rows else None

    @property
    def last_key(self) -> str | None:
        return self.keys[self.rows[-1].id] if self.rows else None


async def runs_page(
    session: AsyncSession,
    connection: WarehouseConnection,
    *,
    cursor: tuple[str, RunKey] | None,
    failing_only: bool,
    now: datetime,
    thresholds: Thresholds,
) -> RunsPage:
    limit = RUNS_PAGE_SIZE

    async def read(key: RunKey | None, direction: str, n: int) -> list[Run]:
        return list(
            await runs_service.keyset_page(
                session,
                connection,
                key=key,
                direction=direction,
                limit=n,
                failing_only=failing_only,
                now=now,
                thresholds=thresholds,
            )
        )

    rows: list[Run] = []
    newest = cursor is None
    has_older = False
    if cursor is not None:
        direction, key = cursor
        if direction == "newer":
            rows = await read(key, "newer", limit + 1)
            if len(rows) <= limit:
                rows, newest = [], True  # nothing newer beyond a page: the head of the list
            else:
                rows, has_older = rows[1:], True  # the key's own run is older still
        else:
            rows = await read(key, direction, limit + 1)
            has_older = len(rows) > limit
            if rows:
                first = rows[0]
                newest = not await read((first.started_at, first.id), "newer", 1)
    if newest and not rows:
        rows = await read(None, "older", limit + 1)
        has_older = len(rows) > limit
    rows = rows[:limit]
    total = await runs_service.count(
        session, connection, failing_only=failing_only, now=now, thresholds=thresholds
    )
    return RunsPage(
        rows=[runs_service.to_out(r, now, thresholds) for r in rows],
        keys={r.id: format_key(r.started_at, r.id) for r in rows},
        newest=newest,
        has_older=has_older,
        total=total,
        failing_only=failing_only,
    )


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


async def visible_organisations(session: AsyncSession, principal: UserPrincipal) -> Sequence[Organisation]:
    rows, _total = await organisations_service.list_visible(session, principal, offset=0, limit=MAX_CARDS)
    return rows
