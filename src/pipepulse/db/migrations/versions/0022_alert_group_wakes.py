"""alert group wake-ups: the group pass reads only groups that are due or were woken (SPEC §7.4)

Revision ID: 0022_alert_group_wakes
Revises: 0021_platform_alerting
Create Date: 2026-12-07

The group pass read every open group and every alert in them on each run (every 2 s, in every
replica): in a fleet outage, O(open alerts) of work per pass whether or not anything changed.
It now reads the groups whose ``next_notify_at`` has come (the earliest instant the group's
answer can change by the clock alone) and those named in ``alert_group_wakes``: rows written
where something else changes a group's answer (an alert opening or ending in it, a silence or
maintenance window), deleted by the pass that looked.

Open groups made by earlier revisions keep the ``next_notify_at`` they have, which is never
later than their next due time, so the first pass after the upgrade looks at each of them and
stores its wake-up time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_alert_group_wakes"
down_revision: str | None = "0021_platform_alerting"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_group_wakes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["alert_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_group_wakes_group_id", "alert_group_wakes", ["group_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_group_wakes_group_id", table_name="alert_group_wakes")
    op.drop_table("alert_group_wakes")
