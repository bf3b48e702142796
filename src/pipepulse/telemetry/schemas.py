from __future__ import annotations

from pydantic import BaseModel, Field

from pipepulse.rules import Status
from pipepulse.schemas import Timestamp


class RecentError(BaseModel):
    occurred_at: Timestamp
    message: str
    run_id: str


class Telemetry(BaseModel):
    """SPEC §3; the exact shape of the reference telemetry endpoint."""

    status: Status
    last_delivery_at: Timestamp | None
    events_last_24h: dict[str, int] = Field(
        description="Each configured event type, 'other' when non-zero, and 'total'."
    )
    events_last_7d: dict[str, int]
    failed_deliveries_last_24h: int
    recent_errors: list[RecentError]
