"""evaluation shares: replicas divide the evaluation between them

Revision ID: 0018_evaluation_shares
Revises: 0017_channel_watchdog
Create Date: 2026-12-06

The connections are divided into partitions by a hash of their id; each partition is
evaluated by the scheduler holding its lease in ``evaluation_shares`` (renewed every alert
pass, taken over by another replica once it expires). ``evaluation_replicas`` lists the
schedulers taking part, so the live ones divide the partitions fairly. The scheduler writes
the partition rows itself on its first pass.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipepulse.db.base import UTCDateTime

revision: str = "0018_evaluation_shares"
down_revision: str | None = "0017_channel_watchdog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluation_shares",
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("partition", name=op.f("pk_evaluation_shares")),
    )
    op.create_table(
        "evaluation_replicas",
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_evaluation_replicas")),
    )


def downgrade() -> None:
    op.drop_table("evaluation_replicas")
    op.drop_table("evaluation_shares")
