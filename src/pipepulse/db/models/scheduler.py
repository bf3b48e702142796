from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pipepulse.db.base import Base, UTCDateTime


class SchedulerHeartbeat(Base):
    """One row per scheduler process: when it last finished a tick."""

    __tablename__ = "scheduler_heartbeats"

    scheduler_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_tick_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ticks: Mapped[int] = mapped_column(Integer, default=0)
    seeded_last_tick: Mapped[int] = mapped_column(Integer, default=0)


class EvaluationShare(Base):
    """One row per partition of the connections (by a hash of their id): which scheduler
    evaluates it, and until when its lease holds unless renewed (alerts/shares.py)."""

    __tablename__ = "evaluation_shares"

    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EvaluationReplica(Base):
    """One row per scheduler taking part in evaluation, renewed each alert pass: the live
    ones divide the partitions between them."""

    __tablename__ = "evaluation_replicas"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
