"""Objectives (SPEC §7.6): a target for an indicator over a window, per connection or, as the
default of its connections that have none, per organisation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pipepulse.db.base import Base, UTCDateTime


class Objective(Base):
    __tablename__ = "objectives"
    __table_args__ = (Index("ix_objectives_org_connection", "organisation_id", "connection_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer, ForeignKey("organisations.id", ondelete="CASCADE"))
    # Null: the organisation's default, for each of its connections that has none of its own.
    connection_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("warehouse_connections.id", ondelete="CASCADE"), nullable=True
    )
    indicator: Mapped[str] = mapped_column(String(16))
    target_percent: Mapped[float] = mapped_column(Float)
    window_days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
