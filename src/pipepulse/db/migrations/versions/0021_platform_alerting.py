"""platform alerting: channels, rules, groups and notifications of no one organisation (SPEC §7.4)

Revision ID: 0021_platform_alerting
Revises: 0020_group_by_default
Create Date: 2026-12-06

A platform token's channels and rules match alerts of every organisation; their groups and
notifications belong to no organisation either. ``organisation_id`` becomes nullable on the four
tables (NULL: platform scope), as it already is on silences and maintenance windows.

SQLite cannot drop a NOT NULL in place, and Alembic's batch mode would copy each table: dropping
``alert_channels`` or ``alert_rules`` with foreign keys on (and they are on, for the whole
migration's transaction) would cascade into every rule, group and notification that refers to
them. Dropping or adding a NOT NULL changes nothing on disk, so on SQLite the stored table
definition is edited instead, the procedure SQLite documents for this ("ALTER TABLE", section 7);
the downgrade first deletes the platform rows, so the restored NOT NULL holds for every row.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_platform_alerting"
down_revision: str | None = "0020_group_by_default"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Children first: the downgrade deletes platform rows in this order.
TABLES = ("notifications", "alert_groups", "alert_rules", "alert_channels")
_COLUMN = re.compile(r"(\n\s*organisation_id INTEGER) NOT NULL,")
_NULLABLE = re.compile(r"(\n\s*organisation_id INTEGER),")


def _sqlite_rewrite(nullable: bool) -> None:
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    for table in TABLES:
        sql = bind.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": table}
        ).scalar_one()
        if nullable:
            new, found = _COLUMN.subn(r"\1,", sql)
        else:
            new, found = _NULLABLE.subn(r"\1 NOT NULL,", sql)
        if found != 1:
            raise RuntimeError(f"{table}: organisation_id not found as expected in {sql!r}")
        bind.execute(
            sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :name"),
            {"sql": new, "name": table},
        )
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rewrite(nullable=True)
        return
    for table in TABLES:
        op.alter_column(table, "organisation_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    for table in TABLES:
        op.execute(sa.text(f"DELETE FROM {table} WHERE organisation_id IS NULL"))
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rewrite(nullable=False)
        return
    for table in TABLES:
        op.alter_column(table, "organisation_id", existing_type=sa.Integer(), nullable=False)
