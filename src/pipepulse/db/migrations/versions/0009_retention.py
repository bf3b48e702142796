"""retention: rolled-up orphans on the hourly and daily rollups

Revision ID: 0009_retention
Revises: 0008_alerts
Create Date: 2026-12-01

Retention deletes the pending rows of old orphans; before it does, it adds them to the
rollups as ``orphaned`` (also counted in ``runs``), so no count is lost. The hourly rollups'
covering primary key gains the column (PostgreSQL), so telemetry still reads a window from
the index alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_retention"
down_revision: str | None = "0008_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_COUNTS = ["runs", "succeeded", "partial", "failed", "events_delivered", "batches_dlq"]


def _covering_key(counters: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no INCLUDE: its key is the plain (connection_id, hour)
    op.execute("ALTER TABLE run_hourly_rollups DROP CONSTRAINT pk_run_hourly_rollups")
    op.execute(
        "ALTER TABLE run_hourly_rollups ADD CONSTRAINT pk_run_hourly_rollups "
        f"PRIMARY KEY (connection_id, hour) INCLUDE ({', '.join(counters)})"
    )


def upgrade() -> None:
    for table in ("run_hourly_rollups", "run_daily_rollups"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("orphaned", sa.Integer(), nullable=False, server_default="0"))
    _covering_key([*RUN_COUNTS, "orphaned"])


def downgrade() -> None:
    _covering_key(RUN_COUNTS)
    for table in ("run_daily_rollups", "run_hourly_rollups"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("orphaned")
