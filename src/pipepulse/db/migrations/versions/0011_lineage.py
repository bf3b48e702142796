"""lineage: organisation-bound service keys, connections fed by OpenLineage, lineage runs

Revision ID: 0011_lineage
Revises: 0010_notification_tallies
Create Date: 2026-12-06

SPEC §9. A service key may be bound to one organisation (and allowed to create the
connections of jobs it has not seen); a connection may name the OpenLineage job that feeds
it; what an OpenLineage run says beyond the run row (its nominal time, its parent) is kept
beside the run.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pipepulse.db.base

revision: str = "0011_lineage"
down_revision: str | None = "0010_notification_tallies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_keys") as batch:
        batch.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("auto_create_connections", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_foreign_key(
            op.f("fk_service_keys_organisation_id_organisations"),
            "organisations",
            ["organisation_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_service_keys_organisation_id"), ["organisation_id"])
    with op.batch_alter_table("warehouse_connections") as batch:
        batch.add_column(sa.Column("lineage_namespace", sa.Text(), nullable=True))
        batch.add_column(sa.Column("lineage_name", sa.Text(), nullable=True))
        batch.add_column(sa.Column("lineage_key", sa.String(length=64), nullable=True))
        batch.create_index(
            "ux_warehouse_connections_lineage", ["organisation_id", "lineage_key"], unique=True
        )
    op.create_table(
        "lineage_runs",
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("nominal_start_at", pipepulse.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("nominal_end_at", pipepulse.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("parent_namespace", sa.Text(), nullable=True),
        sa.Column("parent_name", sa.Text(), nullable=True),
        sa.Column("parent_run_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id", "run_id"],
            ["runs.connection_id", "runs.id"],
            name=op.f("fk_lineage_runs_connection_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "run_id", name=op.f("pk_lineage_runs")),
    )


def downgrade() -> None:
    op.drop_table("lineage_runs")
    with op.batch_alter_table("warehouse_connections") as batch:
        batch.drop_index("ux_warehouse_connections_lineage")
        batch.drop_column("lineage_key")
        batch.drop_column("lineage_name")
        batch.drop_column("lineage_namespace")
    with op.batch_alter_table("service_keys") as batch:
        batch.drop_index(op.f("ix_service_keys_organisation_id"))
        batch.drop_constraint(op.f("fk_service_keys_organisation_id_organisations"), type_="foreignkey")
        batch.drop_column("auto_create_connections")
        batch.drop_column("organisation_id")
