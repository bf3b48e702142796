"""What a run has delivered so far, and the report it adds up to."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pipepulse.loader.classify import Event
from pipepulse.reporter.report_body import EVENT_TYPES, RunReportBody


@dataclass
class RunTally:
    """What a run has done so far."""

    delivered: Counter[str] = field(default_factory=Counter)
    bytes_delivered: int = 0
    oldest_delivered: datetime | None = None
    batches_dlq: int = 0
    handled: int = 0  # events delivered, already present, or dead-lettered: counts for the cap
    pending: int = 0

    def record(self, events: Sequence[Event], inserted: set[str]) -> None:
        """Count the events the destination actually inserted."""
        for event in events:
            if event.event_id not in inserted:
                continue
            self.delivered[event.event_type] += 1
            self.bytes_delivered += event.size_bytes
            if event.occurred_at is not None and (
                self.oldest_delivered is None or event.occurred_at < self.oldest_delivered
            ):
                self.oldest_delivered = event.occurred_at

    def report(self, completed_at: datetime, error: str | None) -> RunReportBody:
        """The run's report as of `completed_at`."""
        latency_ms = None
        if self.oldest_delivered is not None:
            age = completed_at - self.oldest_delivered
            latency_ms = max(0, int(age.total_seconds() * 1000))
        by_type = {event_type: self.delivered[event_type] for event_type in EVENT_TYPES}
        return RunReportBody(
            completed_at=completed_at,
            events_delivered=sum(by_type.values()),
            events_by_type=by_type,
            batches_dlq=self.batches_dlq,
            error=error,
            latency_ms=latency_ms,
            events_pending=self.pending,
            bytes_delivered=self.bytes_delivered,
        )
