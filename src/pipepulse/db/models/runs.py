from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from pipepulse.db.base import Base, UTCDateTime


class Run(Base):
    """One loader run of one connection (the reference's "metrics row").

    ``outcome`` is stored once a run completes (succeeded / partial / failed never change
    afterwards); a run that has not completed stays ``pending`` until the orphan sweep
    marks it ``orphaned``. Readers still derive pending-vs-orphaned from ``now``, so the
    answer is exact whether or not the sweep has run.
    """

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_connection_started", "connection_id", "started_at"),
        Index("ix_runs_connection_completed", "connection_id", "completed_at"),
        # Small partial indexes: the telemetry read never walks a connection's history.
        Index(
            "ix_runs_pending",
            "connection_id",
            "started_at",
            sqlite_where=text("completed_at IS NULL"),
            postgresql_where=text("completed_at IS NULL"),
        ),
        # In the full order of recent_errors (newest first, then by start and id), so the
        # newest ten are read off the end of the index whatever the plan, never sorted.
        Index(
            "ix_runs_failing",
            "connection_id",
            "completed_at",
            "started_at",
            "id",
            sqlite_where=text("outcome IN ('partial', 'failed')"),
            postgresql_where=text("outcome IN ('partial', 'failed')"),
        ),
        Index(
            "ix_runs_delivering",
            "connection_id",
            "completed_at",
            sqlite_where=text("events_delivered > 0"),
            postgresql_where=text("events_delivered > 0"),
        ),
        # The completed runs that delivered nothing: with the failing ones, the runs a status
        # history reads around (status.repository.change_point_runs) when they are few.
        Index(
            "ix_runs_quiet",
            "connection_id",
            "completed_at",
            sqlite_where=text("events_delivered = 0 AND completed_at IS NOT NULL"),
            postgresql_where=text("events_delivered = 0 AND completed_at IS NOT NULL"),
        ),
    )

    connection_id: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("warehouse_connections.id", ondelete="CASCADE"),
        primary_key=True,
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    events_delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    events_by_type: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    batches_dlq: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int | None] = mapped_column(BigInteger)
    events_pending: Mapped[int | None] = mapped_column(BigInteger)
    bytes_delivered: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    orphaned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
