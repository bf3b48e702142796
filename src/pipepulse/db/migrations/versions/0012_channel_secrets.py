"""channel secrets encrypted at rest (SPEC §7.5)

Revision ID: 0012_channel_secrets
Revises: 0010_notification_tallies
Create Date: 2026-12-06

``alert_channels.url`` and ``signing_secret`` were stored in clear. The signing secret's
column widens to text (a Fernet token is longer than the secret), and every existing value is
encrypted with the key the process installed (:mod:`pipepulse.secretbox`). Without a key (a
PostgreSQL installation that has not set ``PIPEPULSE_SECRET_KEY``) the values stay as they are,
are still read, and ``pipepulse secrets rotate`` encrypts them once the key is set. The
downgrade decrypts them again.
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from pipepulse import secretbox

revision: str = "0012_channel_secrets"
down_revision: str | None = "0010_notification_tallies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_channels = sa.table(
    "alert_channels",
    sa.column("id", sa.String()),
    sa.column("url", sa.Text()),
    sa.column("signing_secret", sa.Text()),
)


def _rewrite(change: Callable[[str], str]) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_channels.c.id, _channels.c.url, _channels.c.signing_secret)).all()
    for channel_id, url, secret in rows:
        bind.execute(
            _channels.update()
            .where(_channels.c.id == channel_id)
            .values(url=change(url), signing_secret=None if secret is None else change(secret))
        )


def upgrade() -> None:
    with op.batch_alter_table("alert_channels") as batch:
        batch.alter_column("signing_secret", existing_type=sa.String(length=100), type_=sa.Text())
    box = secretbox.current()
    if box is not None:
        _rewrite(box.reseal)


def downgrade() -> None:
    box = secretbox.current()
    if box is not None:
        _rewrite(box.open)
    with op.batch_alter_table("alert_channels") as batch:
        batch.alter_column("signing_secret", existing_type=sa.Text(), type_=sa.String(length=100))
