"""The scale-out layout (SPEC §8): every table has a Citus placement, every tenant table can be
distributed by organisation_id, and docs/operations.md says the same as the code.

The rule checked for a distributed table: it has a NOT NULL integer ``organisation_id``, and
its primary key extended by ``organisation_id`` still identifies the same rows, because either
``organisation_id`` is already in the key, or the key holds ``connection_id`` (a foreign key to
``warehouse_connections``: a connection belongs to exactly one organisation and the row's
``organisation_id`` is its connection's), or the key is the row's own generated ``id`` (the
connection's, a channel's, a notification's: unique by itself). Citus needs
the distribution column in every primary key and foreign key, so at distribution time each key
becomes ``(organisation_id, …)`` without losing or changing any uniqueness.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Integer, inspect
from sqlalchemy.engine import Connection

from pipepulse.db.base import Base
from pipepulse.db.layout import DISTRIBUTION_COLUMN, PLACEMENT, PLATFORM_SCOPED
from pipepulse.db.session import Database

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
CONNECTIONS = "warehouse_connections"


def key_could_include_organisation(table_name: str, primary_key: list[str], foreign_keys: list[dict]) -> bool:  # type: ignore[type-arg]
    if DISTRIBUTION_COLUMN in primary_key:
        return True
    if primary_key == ["id"]:
        # The connection's own id, or a table's generated id: unique by itself, so still unique
        # beside organisation_id.
        return True
    # Keyed by its connection (directly, or through a run, which is keyed by its connection):
    # co-located with the connection, whose organisation it shares.
    return (
        any(
            (
                fk["referred_table"] == CONNECTIONS
                and fk["referred_columns"] == ["id"]
                and fk["constrained_columns"] == ["connection_id"]
            )
            or (fk["referred_table"] == "runs" and fk["constrained_columns"][:1] == ["connection_id"])
            for fk in foreign_keys
        )
        and "connection_id" in primary_key
    )


async def test_layout__migrated_schema__every_tenant_table_distributable_by_organisation_id(
    migrated_db: Database,
) -> None:
    def tables(connection: Connection) -> dict[str, tuple[list[dict], list[str], list[dict]]]:  # type: ignore[type-arg]
        inspector = inspect(connection)
        return {
            name: (
                inspector.get_columns(name),
                inspector.get_pk_constraint(name)["constrained_columns"],
                inspector.get_foreign_keys(name),
            )
            for name in inspector.get_table_names()
            if name != "alembic_version"
        }

    async with migrated_db.engine.connect() as conn:
        schema = await conn.run_sync(tables)

    assert set(schema) == set(PLACEMENT) == set(Base.metadata.tables)
    for name, (columns, primary_key, foreign_keys) in schema.items():
        if PLACEMENT[name] != "distributed":
            continue
        [column] = [c for c in columns if c["name"] == DISTRIBUTION_COLUMN] or [None]
        assert column is not None, f"{name} has no {DISTRIBUTION_COLUMN}"
        assert column["nullable"] == (name in PLATFORM_SCOPED), f"{name}.{DISTRIBUTION_COLUMN} nullable"
        assert isinstance(column["type"], Integer), f"{name}.{DISTRIBUTION_COLUMN} is {column['type']}"
        assert key_could_include_organisation(name, primary_key, foreign_keys), (name, primary_key)


def test_layout__docs_operations__lists_every_table_with_its_placement() -> None:
    rows = {}
    for line in DOCS.read_text().splitlines():
        match = re.match(r"\| `([a-z_]+)` \|.*\| (distributed by `organisation_id`|reference) \|$", line)
        if match:
            rows[match.group(1)] = "reference" if match.group(2) == "reference" else "distributed"
    assert rows == PLACEMENT
