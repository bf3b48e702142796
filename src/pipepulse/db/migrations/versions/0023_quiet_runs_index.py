"""quiet runs index: a status history reads around the runs that are not healthy (SPEC §7.1)

Revision ID: 0023_quiet_runs_index
Revises: 0022_alert_group_wakes
Create Date: 2026-12-07

A status history found its change points with window functions over every run of the range:
a month of five-minute runs is 8,640 rows read and sorted for a few hundred kept. It now reads
the runs that are not of a healthy run's kind — failing (``ix_runs_failing``), orphaned
(``ix_runs_pending``) and completed without delivering an event (this index) — and probes
their neighbours. The index holds only completed runs that delivered nothing, so a fleet of
healthy pipelines writes nothing to it; building it reads the runs table once (on PostgreSQL
it holds writes to ``runs`` for that long).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_quiet_runs_index"
down_revision: str | None = "0022_alert_group_wakes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUIET = sa.text("events_delivered = 0 AND completed_at IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_runs_quiet",
        "runs",
        ["connection_id", "completed_at"],
        postgresql_where=QUIET,
        sqlite_where=QUIET,
    )


def downgrade() -> None:
    op.drop_index("ix_runs_quiet", table_name="runs")
