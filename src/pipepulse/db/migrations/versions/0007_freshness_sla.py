"""freshness SLA: an optional per-connection limit on the time between deliveries

Revision ID: 0007_freshness_sla
Revises: 0006_report_path
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_freshness_sla"
down_revision: str | None = "0006_report_path"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: a connection without its own SLA gets 2 x schedule interval + orphan window,
    # which follows the interval when it changes.
    with op.batch_alter_table("warehouse_connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("freshness_sla_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("warehouse_connections", schema=None) as batch_op:
        batch_op.drop_column("freshness_sla_seconds")
