"""Alerts (SPEC §7.3): channels, rules, what the last evaluation saw, events, the outbox.

Every table carries ``organisation_id`` so the store can still be distributed by organisation;
on channels, rules, groups and notifications a null one is the platform scope (SPEC §7.4).
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
    # Null: platform scope (SPEC §7.4), over every organisation.
    organisation_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=True
    )
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
    # SPEC §7.5 watchdog: every healthy scheduler sends a heartbeat this often (null: none).
    heartbeat_interval_seconds: Mapped[int | None] = mapped_column(Integer)


class ChannelHeartbeat(Base):
    """One scheduler's heartbeats to one channel: when the next is due, what the last came to.

    Each scheduler writes only its own rows, so replicas never contend for them.
    """

    __tablename__ = "channel_heartbeats"

    channel_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alert_channels.id", ondelete="CASCADE"), primary_key=True
    )
    scheduler_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # In the key so that the table can be distributed by it (db/layout.py).
    organisation_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class AlertRule(Base):
    """Which events of which connections go to which channel."""

    __tablename__ = "alert_rules"
    __table_args__ = (Index("ix_alert_rules_org_created", "organisation_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Null: platform scope (SPEC §7.4), over every organisation.
    organisation_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=True
    )
    channel_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alert_channels.id", ondelete="CASCADE"), index=True
    )
    events: Mapped[list[str]] = mapped_column(JSON)
    # Null: every connection of the organisation, including ones created later.
    connection_ids: Mapped[list[str] | None] = mapped_column(JSON)
    min_duration_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # SPEC §7.4 (group_by defaults to ["connection"]). Nullable for history only: migration 0020
    # gave the rules stored without one the default, and nothing writes null.
    severity: Mapped[str] = mapped_column(String(16), default="critical", server_default="critical")
    group_by: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    group_wait_seconds: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    group_interval_seconds: Mapped[int] = mapped_column(Integer, default=300, server_default="300")
    repeat_interval_seconds: Mapped[int] = mapped_column(Integer, default=14_400, server_default="14400")


class AlertGroup(Base):
    """A rule's firing alerts with equal values of its ``group_by`` labels (SPEC §7.4).

    ``id`` is derived from (rule, key), so replicas that form the same group write one row;
    once closed, the next alert with that key opens a new group (a new ``generation``).
    """

    __tablename__ = "alert_groups"
    __table_args__ = (
        Index("ix_alert_groups_org_state", "organisation_id", "state"),
        Index("ix_alert_groups_due", "state", "next_notify_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Null: platform scope (SPEC §7.4), over every organisation.
    organisation_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=True
    )
    rule_id: Mapped[str] = mapped_column(String(32), ForeignKey("alert_rules.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[dict[str, str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))  # open | closed
    first_fired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # What the last notification told: [[alert id, firing], …]; null until the first.
    notified: Mapped[list[Any] | None] = mapped_column(JSON)
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_notify_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledge_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertGroupWake(Base):
    """A request that the group pass look at a group on its next run (SPEC §7.4): written in the
    transaction that changes what the group would tell (an alert opening or ending in it, a
    silence or maintenance window that may cover its alerts), and deleted by the pass that
    looked. The pass otherwise reads only groups whose ``next_notify_at`` has come, so a fleet's
    hundreds of quiet open groups cost nothing between their due times.

    A row of its own, not a column of the group: marking the group row would lock it inside the
    evaluation's transaction, which holds other locks the group pass can wait behind.
    """

    __tablename__ = "alert_group_wakes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The group's (null: a platform group's), so the table is distributed with its groups.
    organisation_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=True
    )
    group_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("alert_groups.id", ondelete="CASCADE"), index=True
    )


class Alert(Base):
    """A connection in a condition, firing from ``started_at`` until ``ended_at`` (SPEC §7.4),
    as one group sees it. The key (group, connection, condition, start) is the alert itself,
    so replicas record it once."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("group_id", "connection_id", "condition", "started_at"),
        Index("ix_alerts_connection_open", "connection_id", "ended_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    group_id: Mapped[str] = mapped_column(String(40), ForeignKey("alert_groups.id", ondelete="CASCADE"))
    connection_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("warehouse_connections.id", ondelete="CASCADE")
    )
    condition: Mapped[str] = mapped_column(String(32))
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    from_status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    connection: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Silence(Base):
    """Alerts matching every matcher between ``starts_at`` and ``ends_at`` are told to no one."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_org_ends", "organisation_id", "ends_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Null: a platform silence, over every organisation.
    organisation_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=True
    )
    matchers: Mapped[dict[str, str]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    comment: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MaintenanceWindow(Base):
    """A silence that recurs on local wall-clock time (SPEC §7.4)."""

    __tablename__ = "maintenance_windows"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=True, index=True
    )
    matchers: Mapped[dict[str, str]] = mapped_column(JSON)
    time_zone: Mapped[str] = mapped_column(String(64))
    weekdays: Mapped[list[int]] = mapped_column(JSON)
    start: Mapped[str] = mapped_column(String(5))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text)
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
        # One row per group notification, however many replicas decide to send it.
        UniqueConstraint("group_id", "group_sequence"),
        Index("ix_notifications_repost", "repost_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Null: platform scope (SPEC §7.4), over every organisation.
    organisation_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=True
    )
    channel_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alert_channels.id", ondelete="CASCADE"), index=True
    )
    # Null for a channel's test notification.
    event_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("alert_events.id", ondelete="CASCADE"), index=True
    )
    # The log outlives a deleted rule, so no foreign key.
    rule_id: Mapped[str | None] = mapped_column(String(32))
    # A group notification (SPEC §7.4): its group, and which of its notifications this is.
    group_id: Mapped[str | None] = mapped_column(String(40), index=True)
    group_sequence: Mapped[int | None] = mapped_column(Integer)
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
    # A firing group notification delivered to an Alertmanager: when it is posted again (SPEC
    # §7.5, every minute while its group is open). Null for everything else.
    repost_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationTally(Base):
    """Notifications in a final state that were deleted (past retention, or with their channel
    or connection), per type and state, so ``pipepulse_notifications_total`` never goes down:
    Prometheus would read a drop as a counter reset, and a failure alert would fire."""

    __tablename__ = "notification_tallies"

    type: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    deleted: Mapped[int] = mapped_column(BigInteger)
