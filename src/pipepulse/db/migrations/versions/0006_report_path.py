"""report path: one covering key per rollup table, per-connection latest completion times, failing runs in order

Revision ID: 0006_report_path
Revises: 0005_hardening
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pipepulse.db.base

revision: str = "0006_report_path"
down_revision: str | None = "0005_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_COUNTS = ["runs", "succeeded", "partial", "failed", "events_delivered", "batches_dlq"]


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    # Every report rewrites one hourly and one or two event rollup rows, and each index on
    # them is one more write. The primary keys now carry the counters (INCLUDE, PostgreSQL
    # only) and the indexes that repeated them, or a prefix of another index, are gone.
    if _postgresql():
        op.execute("ALTER TABLE run_hourly_rollups DROP CONSTRAINT pk_run_hourly_rollups")
        op.execute(
            "ALTER TABLE run_hourly_rollups ADD CONSTRAINT pk_run_hourly_rollups "
            f"PRIMARY KEY (connection_id, hour) INCLUDE ({', '.join(RUN_COUNTS)})"
        )
        op.execute("ALTER TABLE event_hourly_rollups DROP CONSTRAINT pk_event_hourly_rollups")
        op.execute(
            "ALTER TABLE event_hourly_rollups ADD CONSTRAINT pk_event_hourly_rollups "
            "PRIMARY KEY (connection_id, hour, event_type) INCLUDE (events)"
        )
    with op.batch_alter_table("run_hourly_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_run_hourly_rollups_window")
        batch_op.drop_index("ix_run_hourly_rollups_organisation_id")
    with op.batch_alter_table("event_hourly_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_event_hourly_rollups_window")

    # Failing runs in recent_errors' full order: a generic plan sorted every failing run of
    # the week (cold pages) to find the newest ten.
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_failing")
        batch_op.create_index(
            "ix_runs_failing",
            ["connection_id", "completed_at", "started_at", "id"],
            unique=False,
            sqlite_where=sa.text("outcome IN ('partial', 'failed')"),
            postgresql_where=sa.text("outcome IN ('partial', 'failed')"),
        )

    op.create_table(
        "connection_run_times",
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("last_completed_at", pipepulse.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_succeeded_at", pipepulse.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_failing_at", pipepulse.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_delivery_at", pipepulse.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["warehouse_connections.id"],
            name=op.f("fk_connection_run_times_connection_id_warehouse_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_connection_run_times")),
    )
    # The history so far; from now on every report keeps these rows.
    op.execute(
        """
        INSERT INTO connection_run_times (connection_id, organisation_id, last_completed_at,
                                          last_succeeded_at, last_failing_at, last_delivery_at)
        SELECT connection_id, min(organisation_id), max(completed_at),
               max(CASE WHEN outcome = 'succeeded' THEN completed_at END),
               max(CASE WHEN outcome IN ('partial', 'failed') THEN completed_at END),
               max(CASE WHEN events_delivered > 0 THEN completed_at END)
        FROM runs WHERE completed_at IS NOT NULL GROUP BY connection_id
        """
    )


def downgrade() -> None:
    op.drop_table("connection_run_times")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_failing")
        batch_op.create_index(
            "ix_runs_failing",
            ["connection_id", "completed_at"],
            unique=False,
            sqlite_where=sa.text("outcome IN ('partial', 'failed')"),
            postgresql_where=sa.text("outcome IN ('partial', 'failed')"),
        )
    with op.batch_alter_table("event_hourly_rollups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_hourly_rollups_window",
            ["connection_id", "hour"],
            unique=False,
            postgresql_include=["event_type", "events"],
        )
    with op.batch_alter_table("run_hourly_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_run_hourly_rollups_organisation_id", ["organisation_id"], unique=False)
        batch_op.create_index(
            "ix_run_hourly_rollups_window",
            ["connection_id", "hour"],
            unique=False,
            postgresql_include=RUN_COUNTS,
        )
    if _postgresql():
        op.execute("ALTER TABLE event_hourly_rollups DROP CONSTRAINT pk_event_hourly_rollups")
        op.execute(
            "ALTER TABLE event_hourly_rollups ADD CONSTRAINT pk_event_hourly_rollups "
            "PRIMARY KEY (connection_id, hour, event_type)"
        )
        op.execute("ALTER TABLE run_hourly_rollups DROP CONSTRAINT pk_run_hourly_rollups")
        op.execute(
            "ALTER TABLE run_hourly_rollups ADD CONSTRAINT pk_run_hourly_rollups PRIMARY KEY (connection_id, hour)"
        )
