"""scheduler: each connection's next scheduled run, claimed atomically by one scheduler

Revision ID: 0003_scheduler
Revises: 0002_metrics_rollups
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_scheduler"
down_revision: str | None = "0002_metrics_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("warehouse_connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_run_epoch", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_warehouse_connections_due", ["state", "next_run_epoch"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("warehouse_connections", schema=None) as batch_op:
        batch_op.drop_index("ix_warehouse_connections_due")
        batch_op.drop_column("next_run_epoch")
