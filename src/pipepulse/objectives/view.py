"""Objectives as the dashboard shows them (SPEC §7.6): a budget bar and a sentence per objective.

The words are pure functions of the status read, so the page says what the API says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import WarehouseConnection
from pipepulse.objectives import service
from pipepulse.objectives.budget import Budget
from pipepulse.rules import Thresholds

INDICATOR_WORDS = {"availability": "Availability", "freshness": "Freshness"}


def percent(value: float) -> str:
    """A whole percentage for reading ("62 %"); exact figures stay in the API."""
    return f"{math.floor(value + 0.5)} %"


def short_date(at: datetime, now: datetime) -> str:
    """``14 Dec``, with the year when it is not this year's."""
    at, now = at.astimezone(UTC), now.astimezone(UTC)
    return f"{at.day} {at:%b}" if at.year == now.year else f"{at.day} {at:%b} {at.year}"


def sentence(found: Budget, window_days: int) -> str:
    """E.g. "62 % of the 28-day budget left; at the last day's rate it runs out on 14 Dec"."""
    budget = f"the {window_days}-day budget"
    if found.budget_remaining_percent <= 0:
        spent = 100 - found.budget_remaining_percent
        return f"{budget.capitalize()} is spent: {percent(spent)} of it used"
    left = f"{percent(found.budget_remaining_percent)} of {budget} left"
    if found.exhausted_at is None:
        return f"{left}; nothing burned it in the last day"
    return f"{left}; at the last day's rate it runs out on {short_date(found.exhausted_at, found.as_of)}"


@dataclass(frozen=True)
class ObjectiveView:
    id: str
    title: str  # "Availability 99.5 % over 28 days"
    inherited: bool
    budget: Budget
    sentence: str

    @property
    def bar_value(self) -> float:
        """What the bar shows: the remaining budget, 0 to 100."""
        return min(100.0, max(0.0, self.budget.budget_remaining_percent))

    @property
    def spent(self) -> bool:
        return self.budget.budget_remaining_percent <= 0


def target_words(target: float) -> str:
    return f"{target:g} %"


async def views(
    session: AsyncSession, connection: WarehouseConnection, now: datetime, thresholds: Thresholds
) -> list[ObjectiveView]:
    """Each objective that applies to the connection, with its budget now."""
    out = []
    for applied in await service.applying(session, connection):
        o = applied.objective
        found = await service.status(session, connection, o, now, thresholds)
        out.append(
            ObjectiveView(
                id=o.id,
                title=f"{INDICATOR_WORDS.get(o.indicator, o.indicator)} "
                f"{target_words(o.target_percent)} over {o.window_days} days",
                inherited=applied.inherited,
                budget=found,
                sentence=sentence(found, o.window_days),
            )
        )
    return out
