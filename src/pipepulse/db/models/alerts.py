"""Alerts (SPEC §7.3): channels, rules, what the last evaluation saw, events, the outbox.

Every table carries ``organisation_id`` so the store can still be distributed by organisation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipepulse.db.base import Base, UTCDateTime
from pipepulse.db.sealed import SealedText


class AlertChannel(Base):
    """Where notifications go: a kind of SPEC §7.3 / §7.5 and what that kind needs."""

    __tablename__ = "alert_channels"
    __table_args__ = (Index("ix_alert_channels_org_created", "organisation_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer, ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    # Write-only to users: a webhook URL often carries a credential (Slack's path is one).
    # Encrypted at rest (SPEC §7.5), like every channel secret.
    url: Mapped[str] = mapped_column(SealedText())
    # Encrypted, not hashed: every delivery signs with it (a hash could not sign). Shown once.
    signing_secret: Mapped[str | None] = mapped_column(SealedText())
    # pagerduty: the Events API v2 integration key (a secret). email: where messages go.
    routing_key: Mapped[str | None] = mapped_column(SealedText())
    recipients: Mapped[list[str] | None] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertRule(Base):
    """Which events of which connections go to which channel."""

    __tablename__ = "alert_rules"
    __table_args__ = (Index("ix_alert_rules_org_created", "organisation_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer, ForeignKey("organisations.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alert_channels.id", ondelete="CASCADE"), index=True
    )
    events: Mapped[list[str]] = mapped_column(JSON)
    # Null: every connection of the organisation, including ones created later.
    connection_ids: Mapped[list[str] | None] = mapped_column(JSON)
    min_duration_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConnectionEvaluation(Base):
    """What the last evaluation saw for a connection; the next one reports the differences.

    ``version`` is bumped by every change, and a change is written only where the version is
    still the one that was read: two schedulers that saw the same change write it once.
    """

    __tablename__ = "connection_evaluations"

    connection_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("warehouse_connections.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    status_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    late: Mapped[bool] = mapped_column(Boolean)
    volume_verdict: Mapped[str] = mapped_column(String(16))
    # The complete hour the stored verdict is about (null: none judged yet).
    volume_hour: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)
    # When the last change was recorded (first evaluation: when it was first seen).
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertEvent(Base):
    """One change an evaluation found. ``key`` names the change itself (e.g. the new status and
    the instant it began), so replicas that find the same change record it once."""

    __tablename__ = "alert_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "type", "key"),
        Index("ix_alert_events_org_at", "organisation_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    connection_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("warehouse_connections.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(Base):
    """The outbox: one (event, rule) to deliver at least once, with the same id on every attempt.

    Written in the same transaction as its event; the scheduler's delivery pass sends it.
    ``payload`` is the body, frozen when the event was recorded.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "state", "next_attempt_at"),
        Index("ix_notifications_org_created", "organisation_id", "created_at"),
        Index("ix_notifications_connection_created", "connection_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer, ForeignKey("organisations.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alert_channels.id", ondelete="CASCADE"), index=True
    )
    # Null for a channel's test notification.
    event_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("alert_events.id", ondelete="CASCADE"), index=True
    )
    # The log outlives a deleted rule, so no foreign key.
    rule_id: Mapped[str | None] = mapped_column(String(32))
    connection_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("warehouse_connections.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    # A status notification waits until its status has lasted the rule's min_duration_seconds;
    # a change before then cancels it.
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When it first became due (after any hold-back): the 24-hour retry budget counts from here.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationTally(Base):
    """Notifications in a final state that were deleted (past retention, or with their channel
    or connection), per type and state, so ``pipepulse_notifications_total`` never goes down:
    Prometheus would read a drop as a counter reset, and a failure alert would fire."""

    __tablename__ = "notification_tallies"

    type: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    deleted: Mapped[int] = mapped_column(BigInteger)
