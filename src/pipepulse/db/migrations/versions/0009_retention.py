"""retention: rolled-up orphans on the hourly and daily rollups

Revision ID: 0009_retention
Revises: 0008_alerts
Create Date: 2026-12-01

Retention deletes the pending rows of old orphans; before it does, it adds them to the
rollups as ``orphaned`` (also counted in ``runs``), so no count is lost. The covering index
of the hourly rollups gains the column, so telemetry still reads a window from the index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_retention"
down_revision: str | None = "0008_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_COUNTS = ["runs", "succeeded", "partial", "failed", "events_delivered", "batches_dlq"]


def upgrade() -> None:
    for table in ("run_hourly_rollups", "run_daily_rollups"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("orphaned", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("run_hourly_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_run_hourly_rollups_window")
        batch_op.create_index(
            "ix_run_hourly_rollups_window",
            ["connection_id", "hour"],
            unique=False,
            postgresql_include=[*RUN_COUNTS, "orphaned"],
        )


def downgrade() -> None:
    with op.batch_alter_table("run_hourly_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_run_hourly_rollups_window")
        batch_op.create_index(
            "ix_run_hourly_rollups_window",
            ["connection_id", "hour"],
            unique=False,
            postgresql_include=RUN_COUNTS,
        )
    for table in ("run_daily_rollups", "run_hourly_rollups"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("orphaned")
