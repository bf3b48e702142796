from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pipepulse.db.base import Base, UTCDateTime


class LineageRun(Base):
    """What an OpenLineage run says beyond its run row: its nominal time and its parent."""

    __tablename__ = "lineage_runs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["connection_id", "run_id"], ["runs.connection_id", "runs.id"], ondelete="CASCADE"
        ),
    )

    connection_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    nominal_start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    nominal_end_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Kept, not yet used: a parent's run is not linked to its children's (docs/openlineage.md).
    parent_namespace: Mapped[str | None] = mapped_column(Text)
    parent_name: Mapped[str | None] = mapped_column(Text)
    parent_run_id: Mapped[str | None] = mapped_column(String(64))
