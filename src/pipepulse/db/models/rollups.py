"""Hourly rollups of completed runs, kept in the same transaction as each completion.

Completed runs are rolled up as they complete: a run completes exactly once (a repeat is a
no-op, a different report is refused), so the rollups never count a report twice. An orphan
is rolled up only when retention deletes its pending row, in the same transaction
(``orphaned``, also counted in ``runs``, at the orphan's time); until then readers take it
from the pending rows, so each orphan is counted in exactly one place.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from pipepulse.db.base import Base, UTCDateTime

# The counters every window read sums, carried in the primary key's index on PostgreSQL so a
# telemetry window is read from the index alone (one index per key, not a second copy of it:
# every report rewrites these rows, and each index is one more write).
ROLLUP_COUNTERS = ["runs", "succeeded", "partial", "failed", "events_delivered", "batches_dlq", "orphaned"]


class RunHourlyRollup(Base):
    __tablename__ = "run_hourly_rollups"
    __table_args__ = (
        PrimaryKeyConstraint("connection_id", "hour", postgresql_include=ROLLUP_COUNTERS),
        Index("ix_run_hourly_rollups_org_hour", "organisation_id", "hour"),
    )

    connection_id: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("warehouse_connections.id", ondelete="CASCADE"),
        primary_key=True,
    )
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
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
        PrimaryKeyConstraint("connection_id", "hour", "event_type", postgresql_include=["events"]),
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


class ConnectionRunTimes(Base):
    """Per connection, the latest completion of each kind, kept by every report.

    Organisation health asks for the newest success, failure and completion of a thousand
    connections; reading these rows replaces a correlated ``max()`` over each one's runs.
    They are maxima over all completed runs, so a reader may use one only when it is not
    after the instant asked about (it always is, except for a report from a clock ahead).
    """

    __tablename__ = "connection_run_times"

    connection_id: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("warehouse_connections.id", ondelete="CASCADE"),
        primary_key=True,
    )
    organisation_id: Mapped[int] = mapped_column(Integer)
    last_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failing_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
