from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pipepulse.db.base import Base, UTCDateTime


class StatusSnapshot(Base):
    """Per connection, its stored §3 answer and the instants and inputs it is exact for.

    ``inputs_version`` is bumped by database triggers on every insert, update or delete of the
    connection's runs (migration 0015), so no writer has to remember it and a reader learns in
    its one statement whether anything changed. The answer (``body``) was computed when the
    version was ``answered_version``; it holds for ``[valid_from, valid_until)`` (no end:
    until an input changes) under the thresholds and event types digested in ``basis``.

    The ``latest_*`` columns hold, the same way, the connection's metric values of bulk
    ``latest`` over the default 24 hours (migration 0019), which the Prometheus exposition
    reads too: computed apart from the telemetry answer, so versioned and bounded apart.
    """

    __tablename__ = "status_snapshots"

    connection_id: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("warehouse_connections.id", ondelete="CASCADE"),
        primary_key=True,
    )
    organisation_id: Mapped[int] = mapped_column(Integer)
    inputs_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    answered_version: Mapped[int | None] = mapped_column(BigInteger)
    basis: Mapped[str | None] = mapped_column(String(64))
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    etag: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str | None] = mapped_column(Text)
    latest_version: Mapped[int | None] = mapped_column(BigInteger)
    latest_basis: Mapped[str | None] = mapped_column(String(64))
    latest_valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    latest_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    latest_body: Mapped[str | None] = mapped_column(Text)
