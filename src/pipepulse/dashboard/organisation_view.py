"""What the organisation page shows: the status counts, the health summary and one card per
connection, problems first.

Nothing here decides a status, an outcome or a window: those come from ``telemetry.service``,
``watch.service`` and ``health.service``. This module only arranges their answers for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections import repository as connections_repository
from pipepulse.connections.repository import ConnectionRef
from pipepulse.dashboard import charts
from pipepulse.dashboard import repository as dashboard_repository
from pipepulse.dashboard.format import STATUS_ORDER, STATUS_WORDS, status_rank
from pipepulse.db.models import Organisation, WarehouseConnection
from pipepulse.health import service as health_service
from pipepulse.health.closed_hours import ClosedHours
from pipepulse.health.schemas import OrganisationHealth
from pipepulse.history import service as watch_service
from pipepulse.organisations import service as organisations_service
from pipepulse.rollups.plan import floor_hour
from pipepulse.rules import Status, Thresholds
from pipepulse.status import reasons
from pipepulse.status.verdicts import Freshness, Volume
from pipepulse.telemetry import service as telemetry_service
from pipepulse.telemetry.schemas import Telemetry
from pipepulse.telemetry.service import StatusBasis

MAX_CARDS = 500  # organisations listed for a platform token
CARDS_PER_PAGE = 48
SPARKLINE_HOURS = 24
DEFAULT_HEALTH_DAYS: Final = 30
HEALTH_DAY_LABELS: Final[dict[str, str]] = {"1": "24 h", "7": "7 days", "30": "30 days", "90": "90 days"}


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
    closed: ClosedHours | None = None,
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
        health=await health_service.organisation_health(
            session, organisation, now, health_days, thresholds, closed
        ),
        health_days=health_days,
    )


async def visible_organisations(session: AsyncSession, principal: UserPrincipal) -> Sequence[Organisation]:
    rows, _total = await organisations_service.list_visible(session, principal, offset=0, limit=MAX_CARDS)
    return rows
