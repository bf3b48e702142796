"""read shapes: the stored bulk ``latest`` answer beside the stored telemetry answer

Revision ID: 0019_read_shapes
Revises: 0018_evaluation_shares
Create Date: 2026-12-06

Bulk ``latest`` over the default 24 hours and the Prometheus exposition read each
connection's stored metric values while they hold, like ``GET …/telemetry/`` reads its
stored answer. The same ``inputs_version`` (bumped by the triggers of 0015) invalidates both;
each answer keeps its own version, horizon and basis, since they are computed apart.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipepulse.db.base import UTCDateTime

revision: str = "0019_read_shapes"
down_revision: str | None = "0018_evaluation_shares"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("latest_version", sa.BigInteger()),
    ("latest_basis", sa.String(length=64)),
    ("latest_valid_from", UTCDateTime(timezone=True)),
    ("latest_valid_until", UTCDateTime(timezone=True)),
    ("latest_body", sa.Text()),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("status_snapshots", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later too): a batch copy of the table would trip
    # the triggers on runs that name it, while the table is briefly gone.
    for name, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE status_snapshots DROP COLUMN {name}")
