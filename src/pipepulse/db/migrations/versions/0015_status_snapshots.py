"""status snapshots: each connection's stored §3 answer, and a version of its runs kept by triggers

Revision ID: 0015_status_snapshots
Revises: 0014_objectives
Create Date: 2026-12-06

A telemetry read of a connection whose runs did not change, before the instant its answer
can next change, is one indexed statement. The version of the runs is bumped by triggers
on ``runs`` rather than by each writer, so every write (a report, a batch, a seed, a push,
the orphan sweep, retention, OpenLineage) invalidates the stored answer in its own
statement, including writers added later. On PostgreSQL the triggers are per statement,
with transition tables: a batch of 500 reports bumps each connection once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipepulse.db.base import UTCDateTime

revision: str = "0015_status_snapshots"
down_revision: str | None = "0014_objectives"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (trigger event, transition table) on PostgreSQL; the rows that changed are in it.
PG_EVENTS = (("insert", "NEW"), ("update", "NEW"), ("delete", "OLD"))

# Inserted and updated runs: create the version row, or bump it. In connection order, so
# concurrent statements lock the rows in one order. Deleted runs only bump an existing row:
# a connection being deleted takes its runs with it, and its row must not be created again.
PG_UPSERT = """
    INSERT INTO status_snapshots (connection_id, organisation_id, inputs_version)
    SELECT DISTINCT ON (connection_id) connection_id, organisation_id, 1 FROM changed_runs
    ORDER BY connection_id
    ON CONFLICT (connection_id) DO UPDATE SET inputs_version = status_snapshots.inputs_version + 1
"""
PG_BUMP = """
    UPDATE status_snapshots SET inputs_version = inputs_version + 1
    WHERE connection_id IN (SELECT connection_id FROM changed_runs)
"""
SQLITE_UPSERT = """
    INSERT INTO status_snapshots (connection_id, organisation_id, inputs_version)
    VALUES (NEW.connection_id, NEW.organisation_id, 1)
    ON CONFLICT (connection_id) DO UPDATE SET inputs_version = inputs_version + 1;
"""
SQLITE_BUMP = """
    UPDATE status_snapshots SET inputs_version = inputs_version + 1
    WHERE connection_id = OLD.connection_id;
"""


def upgrade() -> None:
    op.create_table(
        "status_snapshots",
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("inputs_version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("answered_version", sa.BigInteger(), nullable=True),
        sa.Column("basis", sa.String(length=64), nullable=True),
        sa.Column("valid_from", UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("etag", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["warehouse_connections.id"],
            name=op.f("fk_status_snapshots_connection_id_warehouse_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_status_snapshots")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for event, transition in PG_EVENTS:
            body = PG_BUMP if event == "delete" else PG_UPSERT
            op.execute(
                f"CREATE FUNCTION status_snapshots_runs_{event}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN\n{body};\nRETURN NULL;\nEND $$"
            )
            op.execute(
                f"CREATE TRIGGER status_snapshots_runs_{event} AFTER {event.upper()} ON runs "
                f"REFERENCING {transition} TABLE AS changed_runs FOR EACH STATEMENT "
                f"EXECUTE FUNCTION status_snapshots_runs_{event}()"
            )
    else:
        for event in ("insert", "update", "delete"):
            body = SQLITE_BUMP if event == "delete" else SQLITE_UPSERT
            op.execute(
                f"CREATE TRIGGER status_snapshots_runs_{event} AFTER {event.upper()} ON runs "
                f"FOR EACH ROW BEGIN {body} END"
            )


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(
            f"DROP TRIGGER IF EXISTS status_snapshots_runs_{event}"
            + (" ON runs" if op.get_bind().dialect.name == "postgresql" else "")
        )
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP FUNCTION IF EXISTS status_snapshots_runs_{event}()")
    op.drop_table("status_snapshots")
