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
