"""One migration history for both databases: upgrade head on an empty database matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from pipepulse.db import migrate
from pipepulse.db.base import Base
from pipepulse.db.session import Database


async def test_migrations__upgrade_head__schema_matches_models(migrated_db: Database) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with migrated_db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    assert await migrate.current_revision(migrated_db.engine) == migrate.head_revision()


async def test_migrations__upgrade_twice__noop(migrated_db: Database) -> None:
    before, after = await migrate.upgrade(migrated_db.engine)
    assert before == after == migrate.head_revision()
