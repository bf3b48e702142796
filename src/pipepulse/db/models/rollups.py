"""Hourly rollups of completed runs, kept in the same transaction as each completion.

Only completed runs are rolled up: a run completes exactly once (a repeat is a no-op, a
different report is refused), so the rollups never count a report twice. Orphans are
never rolled up; readers take them from the few pending rows instead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pipepulse.db.base import Base, UTCDateTime


class RunHourlyRollup(Base):
    __tablename__ = "run_hourly_rollups"
    __table_args__ = (
        Index("ix_run_hourly_rollups_org_hour", "organisation_id", "hour"),
        # Covering on PostgreSQL: a telemetry window is read from the index alone.
        Index(
            "ix_run_hourly_rollups_window",
            "connection_id",
            "hour",
            postgresql_include=["runs", "succeeded", "partial", "failed", "events_delivered", "batches_dlq"],
        ),
    )

    connection_id: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("warehouse_connections.id", ondelete="CASCADE"),
        primary_key=True,
    )
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer, index=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    partial: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    events_delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    batches_dlq: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_sum_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_count: Mapped[int] = mapped_column(Integer, default=0)
    latency_max_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    # Gauges of the hour: the latest delivery, and the latest reported events_pending (at the
    # latest completed_at that reported one; ties keep the larger value, so order never matters).
    last_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    events_pending_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    events_pending: Mapped[int | None] = mapped_column(BigInteger)


class RunDailyRollup(Base):
    """Per connection and UTC day: what organisation health needs over windows of many days."""

    __tablename__ = "run_daily_rollups"
    __table_args__ = (Index("ix_run_daily_rollups_org_day", "organisation_id", "day"),)

    connection_id: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("warehouse_connections.id", ondelete="CASCADE"),
        primary_key=True,
    )
    day: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    partial: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    events_delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    batches_dlq: Mapped[int] = mapped_column(BigInteger, default=0)


class EventHourlyRollup(Base):
    __tablename__ = "event_hourly_rollups"
    __table_args__ = (
        Index(
            "ix_event_hourly_rollups_window",
            "connection_id",
            "hour",
            postgresql_include=["event_type", "events"],
        ),
    )

    connection_id: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("warehouse_connections.id", ondelete="CASCADE"),
        primary_key=True,
    )
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
