"""Bodies of the objectives API (SPEC §7.6)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from pipepulse.db.models import Objective
from pipepulse.objectives.budget import Budget
from pipepulse.schemas import JSON_INTEGER, StrictModel, Timestamp

TargetPercent = Annotated[
    float,
    Field(
        strict=True,
        ge=50,
        le=99.999,
        description="The share of the window that must be good, in percent (e.g. 99.5), 50 to 99.999.",
    ),
]
WindowDays = Annotated[
    int,
    Field(strict=True, ge=7, le=90, description="The rolling window the target holds over, in days."),
    JSON_INTEGER,
]


class ObjectiveCreate(StrictModel):
    indicator: Literal["availability", "freshness"] = Field(
        description="availability: time not in error (§7.1); freshness: time not late (§7.2)."
    )
    target_percent: TargetPercent
    window_days: WindowDays = 28


class ObjectiveOut(BaseModel):
    id: str
    organisation_id: int
    connection_id: str | None = Field(description="Null for an organisation's default.")
    indicator: Literal["availability", "freshness"]
    target_percent: float
    window_days: int
    created_at: Timestamp
    inherited: bool = Field(
        False,
        description="Listed for a connection: an organisation default, applying as it has none of its own.",
    )

    @classmethod
    def of(cls, row: Objective, *, inherited: bool = False) -> ObjectiveOut:
        return cls(
            id=row.id,
            organisation_id=row.organisation_id,
            connection_id=row.connection_id,
            indicator="freshness" if row.indicator == "freshness" else "availability",
            target_percent=row.target_percent,
            window_days=row.window_days,
            created_at=row.created_at,
            inherited=inherited,
        )


class BurnRatesOut(BaseModel):
    one_hour: float = Field(alias="1h")
    six_hours: float = Field(alias="6h")
    one_day: float = Field(alias="24h")
    three_days: float = Field(alias="72h")


class ObjectiveStatusOut(BaseModel):
    objective_id: str
    indicator: Literal["availability", "freshness"]
    window_days: int
    window_start: Timestamp
    sli_percent: float
    target_percent: float
    budget_seconds: float = Field(
        description="Bad time the target allows in the window (maintenance left out)."
    )
    budget_spent_seconds: float
    budget_remaining_percent: float = Field(description="May be negative: the budget is overspent.")
    burn_rates: BurnRatesOut = Field(
        description="Bad-time fraction of each look-back ending now ÷ the fraction the target allows."
    )
    exhausted_at: Timestamp | None = Field(
        description="When the budget runs out at the last 24 hours' burn rate; now if it has; "
        "null if nothing burns."
    )
    as_of: Timestamp

    @classmethod
    def of(cls, row: Objective, found: Budget) -> ObjectiveStatusOut:
        return cls(
            objective_id=row.id,
            indicator="freshness" if row.indicator == "freshness" else "availability",
            window_days=row.window_days,
            window_start=found.window_start,
            sli_percent=found.sli_percent,
            target_percent=found.target_percent,
            budget_seconds=found.budget_seconds,
            budget_spent_seconds=found.budget_spent_seconds,
            budget_remaining_percent=found.budget_remaining_percent,
            burn_rates=BurnRatesOut.model_validate(found.burn_rates),
            exhausted_at=found.exhausted_at,
            as_of=found.as_of,
        )
