from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pipepulse.db.base import Base, UTCDateTime


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Bumped by every write that changes a settled hour of the organisation's rollups (a late
    # report, retention's orphans, a rebuild, a connection deleted or retyped): what organisation
    # health kept of those hours is stale once it moves (rollups/settled.py).
    rollups_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
