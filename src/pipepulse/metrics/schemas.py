from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from pipepulse.metrics.buckets import TimeUnit
from pipepulse.metrics.service import TimeType
from pipepulse.rollups.plan import Precision
from pipepulse.schemas import StrictModel, Timestamp


class MetricsAnswer(BaseModel):
    """Reference 002's shape: ``data`` and ``metadata``, plus the resolved query and ``as_of``."""

    data: dict[str, Any] = Field(description="Each metric's value (latest, timesummary) or series.")
    metadata: dict[str, dict[str, str]] = Field(description="Each metric's display name and unit.")
    time_type: TimeType
    time_interval: int
    time_unit: TimeUnit
    timestamp_from: Timestamp
    timestamp_to: Timestamp
    as_of: Timestamp = Field(description="The instant the answer was computed at.")
    precision: Precision = Field(
        description="'exact' inside raw run retention; 'hour' when the range starts before it: its edges "
        "were moved back to the start of their hour and the hourly rollups answered (docs/metrics-api.md)."
    )
    counted_from: Timestamp = Field(description="The start of the range actually counted (inclusive).")
    counted_to: Timestamp = Field(description="The end of the range actually counted (exclusive).")


class BulkItem(BaseModel):
    id: str
    organisation_id: int
    name: str
    data: dict[str, Any]


class BulkAnswer(BaseModel):
    result: list[BulkItem]
    metadata: dict[str, dict[str, str]]
    page: int
    size: int
    total: int = Field(description="Connections matching the filters that this token may see.")
    has_next: bool
    next_cursor: str | None = Field(description="Pass as 'from' for the next page; null on the last.")
    time_type: TimeType
    timestamp_from: Timestamp
    timestamp_to: Timestamp
    as_of: Timestamp
    precision: Precision = Field(
        description="'exact' inside raw run retention; 'hour' when the range starts before it: its edges "
        "were moved back to the start of their hour and the hourly rollups answered (docs/metrics-api.md)."
    )
    counted_from: Timestamp = Field(description="The start of the range actually counted (inclusive).")
    counted_to: Timestamp = Field(description="The end of the range actually counted (exclusive).")


class BulkBody(StrictModel):
    """Large id lists that would not fit a URL; these win over the query parameters."""

    ids: list[str] | str | None = Field(default=None, description="Connection ids: array or 'a,b,c'.")
    tenant_ids: list[int] | str | None = Field(
        default=None, description="Organisation ids: array or '1,2,3'."
    )
