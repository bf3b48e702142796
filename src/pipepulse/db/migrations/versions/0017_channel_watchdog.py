"""channel watchdog: heartbeats and Alertmanager re-posts (SPEC §7.5)

Revision ID: 0017_channel_watchdog
Revises: 0015_status_snapshots
Create Date: 2026-12-06

A firing group notification delivered to an Alertmanager is posted again every minute while
its group stays open (``notifications.repost_at``: when next), since Alertmanager resolves an
alert that is not posted again before its ``endsAt``.

A channel may ask for heartbeats (``alert_channels.heartbeat_interval_seconds``); each
scheduler keeps when it next sends one, and what its last one came to, in
``channel_heartbeats`` (one row per channel and scheduler).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipepulse.db.base import UTCDateTime

revision: str = "0017_channel_watchdog"
down_revision: str | None = "0015_status_snapshots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("repost_at", UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_notifications_repost", "notifications", ["repost_at"])
    with op.batch_alter_table("alert_channels") as batch:
        batch.add_column(sa.Column("heartbeat_interval_seconds", sa.Integer(), nullable=True))
    op.create_table(
        "channel_heartbeats",
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("scheduler_id", sa.String(128), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("next_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["alert_channels.id"],
            name=op.f("fk_channel_heartbeats_channel_id_alert_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_channel_heartbeats_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organisation_id", "channel_id", "scheduler_id", name=op.f("pk_channel_heartbeats")
        ),
    )


def downgrade() -> None:
    op.drop_table("channel_heartbeats")
    with op.batch_alter_table("alert_channels") as batch:
        batch.drop_column("heartbeat_interval_seconds")
    op.drop_index("ix_notifications_repost", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("repost_at")
