"""organisation rollups version: organisation health keeps the sums of settled hours

Revision ID: 0024_org_rollups_version
Revises: 0023_quiet_runs_index
Create Date: 2026-12-07

Organisation health summed every connection's hourly and daily rollups of the window on every
request (75,000 rows for a month of 1,000 connections). Each serving process now keeps the
organisation's per-type sums of the hours that are settled (rollups/settled.py) and reads only
the newest hours; this version, bumped by every write that changes a settled hour, tells it
when what it kept is stale. Adding a column with a constant default rewrites nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_org_rollups_version"
down_revision: str | None = "0023_quiet_runs_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "organisations",
        sa.Column("rollups_version", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    # Not a batch (table copy) on SQLite: dropping the organisations table for the copy would
    # cascade into every table that refers to it. Both databases drop a column in place.
    op.execute("ALTER TABLE organisations DROP COLUMN rollups_version")
