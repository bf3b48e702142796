"""metrics rollups: per-hour gauges, daily rollups, organisation-level indexes

Revision ID: 0002_metrics_rollups
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pipepulse.db.base

revision: str = "0002_metrics_rollups"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_hourly_rollups", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_delivery_at", pipepulse.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("events_pending_at", pipepulse.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("events_pending", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_run_hourly_rollups_org_hour", ["organisation_id", "hour"], unique=False)

    op.create_table(
        "run_daily_rollups",
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("day", pipepulse.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("partial", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("events_delivered", sa.BigInteger(), nullable=False),
        sa.Column("batches_dlq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["warehouse_connections.id"],
            name=op.f("fk_run_daily_rollups_connection_id_warehouse_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "day", name=op.f("pk_run_daily_rollups")),
    )
    with op.batch_alter_table("run_daily_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_run_daily_rollups_org_day", ["organisation_id", "day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("run_daily_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_run_daily_rollups_org_day")
    op.drop_table("run_daily_rollups")
    with op.batch_alter_table("run_hourly_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_run_hourly_rollups_org_hour")
        batch_op.drop_column("events_pending")
        batch_op.drop_column("events_pending_at")
        batch_op.drop_column("last_delivery_at")
