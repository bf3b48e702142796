"""The ``/metrics`` series the burn-rate rules read (objectives/prometheus_rules.py), one per
objective as it applies to each connection (its own, or its organisation's defaults):

- ``pipepulse_objective_bad``: 1 while the indicator is bad (``error`` for availability, late for
  freshness) outside a maintenance window, else 0;
- ``pipepulse_objective_counted``: 0 inside a maintenance window, else 1;
- ``pipepulse_objective_allowed_bad_ratio``: (100 - target) / 100.

Averaged over a look-back, bad ÷ counted ÷ allowed is SPEC §7.6's burn rate sampled at each
scrape. Served only with the connection series (a platform or metrics token): the labels are
tenant data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import Objective, Organisation, WarehouseConnection
from pipepulse.objectives import repository, service, sli
from pipepulse.objectives.budget import allowed_fraction
from pipepulse.objectives.prometheus_rules import ALLOWED, BAD, COUNTED
from pipepulse.objectives.spans import Span
from pipepulse.rules import Thresholds

LABELS = ["organisation_id", "connection_id", "connection", "objective_id", "indicator"]
# How far back "now" is read: the state at the last instant before now.
INSTANT = timedelta(seconds=1)

Row = tuple[list[str], bool, bool, float]  # labels, bad, counted, allowed ratio


class _Objectives(Collector):
    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows = rows

    def collect(self) -> Iterator[GaugeMetricFamily]:
        bad = GaugeMetricFamily(
            BAD, "1 while the objective's indicator is bad outside maintenance.", labels=LABELS
        )
        counted = GaugeMetricFamily(COUNTED, "0 inside a maintenance window, else 1.", labels=LABELS)
        allowed = GaugeMetricFamily(ALLOWED, "The bad fraction the objective's target allows.", labels=LABELS)
        for labels, is_bad, is_counted, ratio in self.rows:
            bad.add_metric(labels, 1.0 if is_bad else 0.0)
            counted.add_metric(labels, 1.0 if is_counted else 0.0)
            allowed.add_metric(labels, ratio)
        yield from (bad, counted, allowed)


def _at_end(spans: Sequence[Span], now: datetime) -> bool:
    return any(end == now for _, end in spans)


async def exposition(session: AsyncSession, now: datetime, thresholds: Thresholds) -> bytes:
    objectives = list(
        (await session.execute(select(Objective).order_by(Objective.created_at, Objective.id))).scalars()
    )
    rows: list[Row] = []
    if objectives:
        by_organisation: dict[int, list[Objective]] = defaultdict(list)
        for objective in objectives:
            by_organisation[objective.organisation_id].append(objective)
        c = WarehouseConnection
        connections = (
            await session.execute(select(c).where(c.organisation_id.in_(by_organisation)).order_by(c.id))
        ).scalars()
        windows: dict[int, list[object]] = {}
        for connection in connections:
            held = by_organisation[connection.organisation_id]
            own = [o for o in held if o.connection_id == connection.id]
            applying = own or [o for o in held if o.connection_id is None]
            if not applying:
                continue
            organisation = await session.get(Organisation, connection.organisation_id)
            assert organisation is not None
            if connection.organisation_id not in windows:
                windows[connection.organisation_id] = list(
                    await repository.maintenance_windows(session, connection.organisation_id)
                )
            states: dict[str, tuple[bool, bool]] = {}
            for objective in applying:
                indicator: sli.Indicator = (
                    "freshness" if objective.indicator == "freshness" else "availability"
                )
                if indicator not in states:
                    labels = service.labels(connection, organisation, indicator)
                    held_off = _at_end(
                        sli.maintenance_spans(
                            windows[connection.organisation_id], labels, now - INSTANT, now
                        ),
                        now,
                    )
                    spans = await service.bad_time(
                        session, connection, indicator, now - INSTANT, now, thresholds
                    )
                    states[indicator] = (_at_end(spans, now) and not held_off, not held_off)
                is_bad, is_counted = states[indicator]
                names = [
                    str(connection.organisation_id),
                    connection.id,
                    connection.name,
                    objective.id,
                    indicator,
                ]
                ratio = float(allowed_fraction(objective.target_percent))
                rows.append((names, is_bad, is_counted, ratio))
    registry = CollectorRegistry()
    registry.register(_Objectives(rows))
    return generate_latest(registry)
