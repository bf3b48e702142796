"""alert groups: alerts, their groups, silences and maintenance windows (SPEC §7.4)

Revision ID: 0013_alert_groups
Revises: 0012_channel_secrets
Create Date: 2026-12-06

Rules gain severity, group_by and the Alertmanager timings; a notification may belong to a
group (one row per group and sequence number, so replicas queue it once).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipepulse.db.base import UTCDateTime

revision: str = "0013_alert_groups"
down_revision: str | None = "0012_channel_secrets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_rules") as batch:
        batch.add_column(sa.Column("severity", sa.String(16), nullable=False, server_default="critical"))
        batch.add_column(sa.Column("group_by", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("group_wait_seconds", sa.Integer(), nullable=False, server_default="10"))
        batch.add_column(
            sa.Column("group_interval_seconds", sa.Integer(), nullable=False, server_default="300")
        )
        batch.add_column(
            sa.Column("repeat_interval_seconds", sa.Integer(), nullable=False, server_default="14400")
        )
    op.create_table(
        "alert_groups",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("key", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("first_fired_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("notified", sa.JSON(), nullable=True),
        sa.Column("last_notified_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_notify_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledge_comment", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_alert_groups_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rules.id"],
            name=op.f("fk_alert_groups_rule_id_alert_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_groups")),
    )
    op.create_index("ix_alert_groups_org_state", "alert_groups", ["organisation_id", "state"])
    op.create_index("ix_alert_groups_due", "alert_groups", ["state", "next_notify_at"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(40), nullable=False),
        sa.Column("connection_id", sa.String(64), nullable=False),
        sa.Column("condition", sa.String(32), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("reason", sa.JSON(), nullable=True),
        sa.Column("connection", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_groups.id"],
            name=op.f("fk_alerts_group_id_alert_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["warehouse_connections.id"],
            name=op.f("fk_alerts_connection_id_warehouse_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint(
            "group_id",
            "connection_id",
            "condition",
            "started_at",
            name=op.f("uq_alerts_group_id_connection_id_condition_started_at"),
        ),
    )
    op.create_index("ix_alerts_connection_open", "alerts", ["connection_id", "ended_at"])
    op.create_table(
        "silences",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_silences_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_index("ix_silences_org_ends", "silences", ["organisation_id", "ends_at"])
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.Column("start", sa.String(5), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_maintenance_windows_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
    )
    op.create_index(
        op.f("ix_maintenance_windows_organisation_id"), "maintenance_windows", ["organisation_id"]
    )
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("group_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("group_sequence", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_notifications_group_id"), ["group_id"])
        batch.create_unique_constraint(
            batch.f("uq_notifications_group_id_group_sequence"), ["group_id", "group_sequence"]
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint(batch.f("uq_notifications_group_id_group_sequence"), type_="unique")
        batch.drop_index(batch.f("ix_notifications_group_id"))
        batch.drop_column("group_sequence")
        batch.drop_column("group_id")
    op.drop_index(op.f("ix_maintenance_windows_organisation_id"), table_name="maintenance_windows")
    op.drop_table("maintenance_windows")
    op.drop_index("ix_silences_org_ends", table_name="silences")
    op.drop_table("silences")
    op.drop_index("ix_alerts_connection_open", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_alert_groups_due", table_name="alert_groups")
    op.drop_index("ix_alert_groups_org_state", table_name="alert_groups")
    op.drop_table("alert_groups")
    with op.batch_alter_table("alert_rules") as batch:
        for column in (
            "repeat_interval_seconds",
            "group_interval_seconds",
            "group_wait_seconds",
            "group_by",
            "severity",
        ):
            batch.drop_column(column)
