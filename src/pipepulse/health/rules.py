"""Organisation integration health (SPEC §4.4) as pure functions of per-type tallies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pipepulse.health.schemas import IntegrationTypeHealth, OrganisationHealth
from pipepulse.rules import success_rate


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass
class TypeTally:
    """The finished runs of one integration type in the window."""

    total: int = 0
    success: int = 0
    errors: int = 0
    last_event_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None

    def add(self, total: int, success: int, errors: int) -> None:
        self.total += total
        self.success += success
        self.errors += errors

    def seen(
        self,
        *,
        event: datetime | None = None,
        success: datetime | None = None,
        error: datetime | None = None,
    ) -> None:
        self.last_event_at = _later(self.last_event_at, _later(event, _later(success, error)))
        self.last_success_at = _later(self.last_success_at, success)
        self.last_error_at = _later(self.last_error_at, error)


def summarise(
    slug: str, days: int, integration_types: Iterable[str], tallies: Mapping[str, TypeTally]
) -> OrganisationHealth:
    """One entry per integration type that has a connection, sorted by type, and the totals."""
    per_type = {t: tallies.get(t, TypeTally()) for t in sorted(set(integration_types))}
    total = sum(t.total for t in per_type.values())
    success = sum(t.success for t in per_type.values())
    last_success = last_error = None
    for t in per_type.values():
        last_success = _later(last_success, t.last_success_at)
        last_error = _later(last_error, t.last_error_at)
    return OrganisationHealth(
        space_id=slug,
        period_days=days,
        total_events=total,
        success_count=success,
        error_count=sum(t.errors for t in per_type.values()),
        success_rate=success_rate(success, total),
        last_success_at=last_success,
        last_error_at=last_error,
        by_integration_type=[
            IntegrationTypeHealth(
                integration_type=name,
                total=t.total,
                success=t.success,
                errors=t.errors,
                last_event_at=t.last_event_at,
            )
            for name, t in per_type.items()
        ],
    )
