from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pipepulse.db.base import Base, UTCDateTime


class WarehouseConnection(Base):
    """One pipeline into one destination."""

    __tablename__ = "warehouse_connections"
    __table_args__ = (
        Index("ix_warehouse_connections_org_created", "organisation_id", "created_at"),
        Index("ix_warehouse_connections_due", "state", "next_run_epoch"),
        Index("ux_warehouse_connections_lineage", "organisation_id", "lineage_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer, ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    integration_type: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(32))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    schedule_interval_seconds: Mapped[int] = mapped_column(Integer)
    # Null: the default SLA (2 x schedule interval + orphan window, SPEC §7.2).
    freshness_sla_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the scheduler may seed the next run, in Unix seconds (null: due now). Integer
    # seconds keep "now + schedule_interval_seconds" plain arithmetic on both dialects.
    next_run_epoch: Mapped[int | None] = mapped_column(BigInteger)
    # The OpenLineage job that feeds it (SPEC §9); ``lineage_key`` is a digest of the pair,
    # unique per organisation, as job names are too long for a plain index.
    lineage_namespace: Mapped[str | None] = mapped_column(Text)
    lineage_name: Mapped[str | None] = mapped_column(Text)
    lineage_key: Mapped[str | None] = mapped_column(String(64))

    @property
    def lineage_job(self) -> dict[str, str] | None:
        if self.lineage_namespace is None or self.lineage_name is None:
            return None
        return {"namespace": self.lineage_namespace, "name": self.lineage_name}
