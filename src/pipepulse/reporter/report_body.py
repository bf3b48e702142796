"""The run report a loader sends when a run completes (SPEC §4.2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EVALUATIONS = "evaluations"
CUSTOM_EVENTS = "custom_events"
EVENT_TYPES: tuple[str, ...] = (EVALUATIONS, CUSTOM_EVENTS)

# The service keeps at most this much of an error; cutting it here keeps a resend identical.
MAX_ERROR_LENGTH = 2000


def isoformat_z(moment: datetime) -> str:
    """Render an aware datetime as ISO 8601 UTC with a `Z` suffix."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class RunReportBody:
    """What one loader run delivered: the body of `PATCH …/metrics/{run_id}/`."""

    completed_at: datetime
    events_delivered: int = 0
    batches_dlq: int = 0
    error: str | None = None
    events_by_type: Mapping[str, int] | None = None
    latency_ms: int | None = None
    events_pending: int | None = None
    bytes_delivered: int | None = None

    def __post_init__(self) -> None:
        # Catch a malformed report here, where the loader's author can see it, not as a 422.
        if self.completed_at.tzinfo is None:
            raise ValueError("completed_at must be timezone-aware")
        counts = {
            "events_delivered": self.events_delivered,
            "batches_dlq": self.batches_dlq,
            "latency_ms": self.latency_ms,
            "events_pending": self.events_pending,
            "bytes_delivered": self.bytes_delivered,
        }
        for name, value in counts.items():
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        if self.events_by_type is not None:
            if any(count < 0 for count in self.events_by_type.values()):
                raise ValueError("events_by_type counts must not be negative")
            total = sum(self.events_by_type.values())
            if total != self.events_delivered:
                raise ValueError(
                    f"events_by_type sums to {total}, events_delivered is {self.events_delivered}"
                )
        if self.error is not None and len(self.error) > MAX_ERROR_LENGTH:
            object.__setattr__(self, "error", self.error[:MAX_ERROR_LENGTH])

    @property
    def outcome(self) -> str:
        """The outcome the service will derive: `succeeded`, `partial` or `failed`."""
        if self.error is not None:
            return "failed"
        return "partial" if self.batches_dlq > 0 else "succeeded"

    def to_json(self) -> dict[str, Any]:
        """The PATCH body; optional fields that are unknown are left out."""
        body: dict[str, Any] = {
            "completed_at": isoformat_z(self.completed_at),
            "events_delivered": self.events_delivered,
            "batches_dlq": self.batches_dlq,
            "error": self.error,
        }
        if self.events_by_type is not None:
            body["events_by_type"] = dict(self.events_by_type)
        for name in ("latency_ms", "events_pending", "bytes_delivered"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body
