"""objectives: availability and freshness targets per connection or organisation (SPEC §7.6)

Revision ID: 0014_objectives
Revises: 0013_alert_groups
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipepulse.db.base import UTCDateTime

revision: str = "0014_objectives"
down_revision: str | None = "0013_alert_groups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "objectives",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.String(64), nullable=True),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("target_percent", sa.Float(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_objectives_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["warehouse_connections.id"],
            name=op.f("fk_objectives_connection_id_warehouse_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objectives")),
    )
    op.create_index("ix_objectives_org_connection", "objectives", ["organisation_id", "connection_id"])


def downgrade() -> None:
    op.drop_index("ix_objectives_org_connection", table_name="objectives")
    op.drop_table("objectives")
