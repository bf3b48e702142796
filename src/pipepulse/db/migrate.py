"""Programmatic Alembic: upgrade to head and read the current revision, inside our engine."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from pipepulse.db.session import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Any fixed number works; it only has to be the same in every pipepulse process.
_MIGRATION_LOCK_KEY = 7_202_611

log = logging.getLogger(__name__)


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str]:
    """Apply pending migrations; returns (revision before, revision after).

    On PostgreSQL an advisory lock makes concurrent starts (several replicas) safe.
    """

    def _upgrade(connection: Connection) -> tuple[str | None, str]:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        before = _current(connection)
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        return before, head_revision()

    # On SQLite the same guarantee comes from a write transaction (BEGIN IMMEDIATE): a second
    # process waits on the busy timeout instead of failing half-way with "database is locked".
    async with engine.execution_options(pipepulse_write=True).begin() as conn:
        return await conn.run_sync(_upgrade)


async def is_up_to_date(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()


class SchemaOutOfDate(RuntimeError):
    pass


async def ensure_schema(db: Database, *, auto_migrate: bool) -> None:
    """Apply pending migrations, or refuse to run on an old schema when auto-migrate is off
    (``PIPEPULSE_AUTO_MIGRATE``)."""
    if auto_migrate:
        before, after = await upgrade(db.engine)
        if before != after:
            log.info("database migrated from %s to %s", before, after)
        return
    if not await is_up_to_date(db.engine):
        raise SchemaOutOfDate(
            "the database schema is not at the version this pipepulse needs; "
            "run `pipepulse db upgrade` (or set PIPEPULSE_AUTO_MIGRATE=true)"
        )
