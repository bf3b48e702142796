"""Hourly rollups of completed runs, kept in the same transaction as each completion.

Completed runs are rolled up as they complete: a run completes exactly once (a repeat is a
no-op, a different report is refused), so the rollups never count a report twice. An orphan
is rolled up only when retention deletes its pending row, in the same transaction
(``orphaned``, also counted in ``runs``, at the orphan's time); until then readers take it
from the pending rows, so each orphan is counted in exactly one place.
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
            postgresql_include=[
                "runs",
                "succeeded",
                "partial",
                "failed",
                "events_delivered",
                "batches_dlq",
                "orphaned",
            ],
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
    # Orphans whose pending rows retention deleted (also in ``runs``); see the module docstring.
    orphaned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
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
    orphaned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


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
