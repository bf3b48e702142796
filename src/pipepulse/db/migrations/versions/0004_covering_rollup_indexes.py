"""covering indexes on the hourly rollups, so telemetry reads them without visiting the table

Revision ID: 0004_covering_rollup_indexes
Revises: 0003_scheduler
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_covering_rollup_indexes"
down_revision: str | None = "0003_scheduler"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_COUNTS = ["runs", "succeeded", "partial", "failed", "events_delivered", "batches_dlq"]


def upgrade() -> None:
    # PostgreSQL answers a 7-day window (168 hourly rows per connection, scattered over the
    # table as hours arrive) from the index alone; SQLite ignores INCLUDE.
    with op.batch_alter_table("run_hourly_rollups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_run_hourly_rollups_window",
            ["connection_id", "hour"],
            unique=False,
            postgresql_include=RUN_COUNTS,
        )
    with op.batch_alter_table("event_hourly_rollups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_hourly_rollups_window",
            ["connection_id", "hour"],
            unique=False,
            postgresql_include=["event_type", "events"],
        )


def downgrade() -> None:
    with op.batch_alter_table("event_hourly_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_event_hourly_rollups_window")
    with op.batch_alter_table("run_hourly_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_run_hourly_rollups_window")
