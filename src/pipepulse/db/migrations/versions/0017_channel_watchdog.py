"""channel watchdog: Alertmanager re-posts (SPEC §7.5)

Revision ID: 0017_channel_watchdog
Revises: 0013_alert_groups
Create Date: 2026-12-06

A firing group notification delivered to an Alertmanager is posted again every minute while
its group stays open (``notifications.repost_at``: when next), since Alertmanager resolves an
alert that is not posted again before its ``endsAt``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipepulse.db.base import UTCDateTime

revision: str = "0017_channel_watchdog"
down_revision: str | None = "0013_alert_groups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("repost_at", UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_notifications_repost", "notifications", ["repost_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_repost", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("repost_at")
