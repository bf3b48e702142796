"""Reference 003's exact shapes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from pipepulse.rollups.plan import Precision
from pipepulse.schemas import Timestamp


class IntegrationTypeHealth(BaseModel):
    integration_type: str
    total: int
    success: int
    errors: int
    last_event_at: Timestamp | None


class OrganisationHealth(BaseModel):
    """Reference 003's exact shape."""

    space_id: str
    period_days: int
    total_events: int
    success_count: int
    error_count: int
    success_rate: float | None
    last_success_at: Timestamp | None
    last_error_at: Timestamp | None
    by_integration_type: list[IntegrationTypeHealth]
    precision: Precision = Field(
        default="exact",
        description="'exact' inside raw run retention; 'hour' (or 'day') when the window starts before "
        "it: counted from the start of that hour (or day), and older last_* times are hour (day) starts.",
    )
    counted_from: Timestamp | None = Field(
        default=None,
        description="Where counting starts: now - days (exclusive) when exact, else the hour or day "
        "start it was moved back to (inclusive).",
    )
