"""The one read model of a run: one column list and one row type for every reader.

Telemetry, the metrics, the rollup rebuild and the status history read runs in bulk and
need no ORM object; they select :data:`RUN_COLUMNS` and get :class:`RunRow` back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row

from pipepulse.db.dialect import as_utc
from pipepulse.db.models import Run
from pipepulse.rules import finished_time

RUN_COLUMNS = (
    Run.connection_id,
    Run.id,
    Run.organisation_id,
    Run.started_at,
    Run.completed_at,
    Run.outcome,
    Run.events_delivered,
    Run.events_by_type,
    Run.batches_dlq,
    Run.error,
    Run.latency_ms,
    Run.events_pending,
    Run.bytes_delivered,
)
RUN_COLUMN_NAMES = tuple(c.key for c in RUN_COLUMNS)


@dataclass(frozen=True)
class RunRow:
    """A run as stored: completed, or still pending (an orphan once its window has passed)."""

    connection_id: str
    id: str
    organisation_id: int
    started_at: datetime
    completed_at: datetime | None
    outcome: str
    events_delivered: int
    events_by_type: dict[str, Any] | None
    batches_dlq: int
    error: str | None
    latency_ms: int | None
    events_pending: int | None
    bytes_delivered: int | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> RunRow:
        """From a row carrying :data:`RUN_COLUMNS` by name (other columns are ignored).

        Times are normalised to aware UTC and the breakdown to a dict: a UNION on SQLite can
        hand them back as text.
        """
        mapping = row._mapping  # built on each access: take it once per row
        values = {name: mapping[name] for name in RUN_COLUMN_NAMES}
        values["started_at"] = as_utc(values["started_at"])
        values["completed_at"] = as_utc(values["completed_at"])
        if isinstance(values["events_by_type"], str):
            values["events_by_type"] = json.loads(values["events_by_type"])
        return cls(**values)

    def finished_time(self, orphan_window: timedelta) -> datetime:
        """When the run counts in windows: its completion, or for an orphan the end of its window."""
        return finished_time(self.started_at, self.completed_at, orphan_window)

    @property
    def stored_outcome(self) -> str:
        """The outcome of a run that is finished: completed ones keep theirs, the rest are orphans."""
        return self.outcome if self.completed_at is not None else "orphaned"

    def newest_key(self, orphan_window: timedelta) -> tuple[datetime, datetime, str]:
        """The order of "latest" in SPEC §3: finished time, then start, then id."""
        return self.finished_time(orphan_window), self.started_at, self.id
