"""group_by default: every rule notifies per alert group (SPEC §7.4)

Revision ID: 0020_group_by_default
Revises: 0019_read_shapes
Create Date: 2026-12-06

SPEC §7.4 makes ``group_by`` default to ``["connection"]`` and §7.3 sends one notification per
alert group. Rules made before this revision without ``group_by`` (stored as NULL) notified per
event; they now group by connection, as a rule created without ``group_by`` does. The column
stays nullable (no schema change), but nothing writes NULL any more.

The downgrade leaves the rules as they are: which rules had no ``group_by`` is not recorded, and
a rule grouped by connection works under the earlier revisions too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_group_by_default"
down_revision: str | None = "0019_read_shapes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

rules = sa.table("alert_rules", sa.column("group_by", sa.JSON(none_as_null=True)))


def upgrade() -> None:
    op.execute(rules.update().where(rules.c.group_by.is_(None)).values(group_by=["connection"]))


def downgrade() -> None:
    pass
