"""channel secrets encrypted at rest (SPEC §7.5)

Revision ID: 0012_channel_secrets
Revises: 0011_lineage
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
down_revision: str | None = "0011_lineage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_channels = sa.table(
    "alert_channels",
    sa.column("id", sa.String()),
    sa.column("url", sa.Text()),
    sa.column("signing_secret", sa.Text()),
    sa.column("routing_key", sa.Text()),
)


def _rewrite(change: Callable[[str], str], *, routing_keys: bool) -> None:
    bind = op.get_bind()
    c = _channels.c
    rows = bind.execute(
        sa.select(c.id, c.url, c.signing_secret, *([c.routing_key] if routing_keys else []))
    ).all()
    for channel_id, url, secret, *key in rows:
        values = {"url": change(url), "signing_secret": None if secret is None else change(secret)}
        if key and key[0] is not None:
            values["routing_key"] = change(key[0])
        bind.execute(_channels.update().where(c.id == channel_id).values(**values))


def upgrade() -> None:
    with op.batch_alter_table("alert_channels") as batch:
        batch.alter_column("signing_secret", existing_type=sa.String(length=100), type_=sa.Text())
        # The kinds of §7.5: a PagerDuty routing key (a secret) and email recipients.
        batch.add_column(sa.Column("routing_key", sa.Text(), nullable=True))
        batch.add_column(sa.Column("recipients", sa.JSON(), nullable=True))
    box = secretbox.current()
    if box is not None:
        _rewrite(box.reseal, routing_keys=False)


def downgrade() -> None:
    box = secretbox.current()
    if box is not None:
        _rewrite(box.open, routing_keys=False)
    op.execute(sa.text("DELETE FROM alert_channels WHERE kind NOT IN ('webhook', 'slack')"))
    with op.batch_alter_table("alert_channels") as batch:
        batch.drop_column("recipients")
        batch.drop_column("routing_key")
        batch.alter_column("signing_secret", existing_type=sa.Text(), type_=sa.String(length=100))
