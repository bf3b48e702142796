"""notification tallies: what deleted notifications counted, so their counter never goes down

Revision ID: 0010_notification_tallies
Revises: 0009_retention
Create Date: 2026-11-24

Retention now deletes finished notifications past the raw runs' cutoff; deleting a channel or
a connection always deleted theirs. ``pipepulse_notifications_total`` counts rows, so each
deletion made it go down, which Prometheus reads as a counter reset. The deleted ones are now
tallied per type and state.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_notification_tallies"
down_revision: str | None = "0009_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_tallies",
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("type", "state", name=op.f("pk_notification_tallies")),
    )


def downgrade() -> None:
    op.drop_table("notification_tallies")
