"""One migration history for both databases: up, down and up again; an old database with data
brought to head; several processes migrating one database at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import column, func, insert, inspect, select
from sqlalchemy import table as sql_table
from sqlalchemy import types as sql_types
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db import migrate
from pipepulse.db.base import Base
from pipepulse.db.engine import create_engine
from pipepulse.db.models import (
    EventHourlyRollup,
    Organisation,
    Run,
    RunDailyRollup,
    RunHourlyRollup,
    WarehouseConnection,
)
from pipepulse.db.session import Database
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher
from tests.conftest import BACKEND, FrozenClock, _create_postgres_database, _drop_postgres_database

NOW = datetime(2026, 4, 20, 12, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


# The organisations table as every migration has it (the model's adds later columns).
ORGANISATIONS = sql_table(
    "organisations", column("id", sql_types.Integer()), column("slug", sql_types.Text()),
    column("name", sql_types.Text()), column("created_at", Organisation.__table__.c.created_at.type),
)  # fmt: skip


def _schema_diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def _alembic(engine: AsyncEngine, action: str, revision: str) -> None:
    """`alembic upgrade|downgrade REVISION` on our engine, as pipepulse.db.migrate runs upgrades."""

    def run(connection: Connection) -> None:
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = connection
        getattr(command, action)(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


@pytest.fixture
async def empty_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own, empty, as a user would type its URL."""
    if BACKEND == "postgres":
        admin_url, url = await _create_postgres_database()
        yield url
        await _drop_postgres_database(admin_url, url)
    else:
        yield f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"


@pytest.fixture
async def empty_db(empty_url: str) -> AsyncIterator[Database]:
    db = Database(create_engine(Settings(database_url=empty_url).resolved_database_url))
    yield db
    await db.dispose()


async def test_migrations__upgrade_head__schema_matches_models(migrated_db: Database) -> None:
    async with migrated_db.engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []
    assert await migrate.current_revision(migrated_db.engine) == migrate.head_revision()


async def test_migrations__upgrade_twice__noop(migrated_db: Database) -> None:
    before, after = await migrate.upgrade(migrated_db.engine)
    assert before == after == migrate.head_revision()


def _snapshot(connection: Connection) -> dict[str, Any]:
    """Every table with its columns (name, type, nullability) and its indexes."""
    inspector = inspect(connection)
    out: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        columns = [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)]
        indexes = sorted(
            (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
        )
        out[table] = {"columns": sorted(columns), "indexes": indexes}
    return out


async def test_migrations__downgrade_to_base_then_upgrade__empty_then_schema_matches_models(
    empty_db: Database,
) -> None:
    assert await migrate.upgrade(empty_db.engine) == (None, migrate.head_revision())
    model_tables = set(Base.metadata.tables)
    assert model_tables <= await _tables(empty_db.engine)

    await _alembic(empty_db.engine, "downgrade", "base")
    assert await _tables(empty_db.engine) - {"alembic_version"} == set()
    assert await migrate.current_revision(empty_db.engine) is None

    assert await migrate.upgrade(empty_db.engine) == (None, migrate.head_revision())
    async with empty_db.engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []


async def test_migrations__each_downgrade__the_schema_its_revision_built(empty_db: Database) -> None:
    """Going down one revision leaves exactly the schema going up to that revision made."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    built: dict[str, Any] = {}
    for revision in revisions:
        await _alembic(empty_db.engine, "upgrade", revision)
        async with empty_db.engine.connect() as conn:
            built[revision] = await conn.run_sync(_snapshot)
    for revision in reversed(revisions[:-1]):
        await _alembic(empty_db.engine, "downgrade", revision)
        async with empty_db.engine.connect() as conn:
            assert await conn.run_sync(_snapshot) == built[revision], f"downgrade to {revision}"


async def _insert_as_of(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows into a table as it stood at an older revision: exactly its columns then."""
    async with db.engine.connect() as conn:
        columns = await conn.run_sync(lambda c: inspect(c).get_columns(table.name))
    names = {c["name"] for c in columns}
    for row in rows:
        assert set(row) == names, (table.name, set(row) ^ names)
    # A table of just those columns (typed as the model types them), so no later default creeps in.
    then = sql_table(table.name, *(column(name, table.c[name].type) for name in sorted(names)))
    async with db.session(write=True) as session:
        await session.execute(insert(then), rows)


async def _history_at_0002(db: Database) -> dict[str, Any]:
    """What a pipepulse of revision 0002 had written: an organisation, a connection, runs and
    their rollups, in the tables' columns of then (the rollups written out by hand, since
    today's writer fills columns added later)."""
    await _insert_as_of(
        db, Organisation.__table__, [{"id": 1, "slug": "acme", "name": "Acme", "created_at": NOW}]
    )
    connection = {
        "id": "wc_old", "organisation_id": 1, "name": "Old warehouse", "type": "snowflake",
        "integration_type": "warehouse_delivery", "config": {"schema": "analytics"}, "state": "connected",
        "event_types": ["evaluations", "custom_events"], "schedule_interval_seconds": 3600,
        "created_at": NOW - timedelta(days=3), "updated_at": NOW - timedelta(days=3),
    }  # fmt: skip
    await _insert_as_of(db, WarehouseConnection.__table__, [connection])
    base = {"connection_id": "wc_old", "organisation_id": 1, "latency_ms": None, "events_pending": None,
            "bytes_delivered": None, "orphaned_at": None}  # fmt: skip
    ok_at, failed_at, recent = NOW - timedelta(hours=3), NOW - timedelta(hours=2), NOW - 5 * MINUTE
    done = ok_at + 2 * MINUTE
    await _insert_as_of(db, Run.__table__, [
        {**base, "id": "r-ok", "started_at": ok_at, "completed_at": done, "outcome": "succeeded",
         "events_delivered": 120, "events_by_type": {"evaluations": 100, "custom_events": 20},
         "batches_dlq": 0, "error": None, "latency_ms": 900, "events_pending": 4, "created_at": ok_at},
        {**base, "id": "r-failed", "started_at": failed_at, "completed_at": failed_at, "outcome": "failed",
         "events_delivered": 0, "events_by_type": None, "batches_dlq": 0, "error": "warehouse refused",
         "created_at": failed_at},
        {**base, "id": "r-pending", "started_at": recent, "completed_at": None, "outcome": "pending",
         "events_delivered": 0, "events_by_type": None, "batches_dlq": 0, "error": None,
         "created_at": recent},
    ])  # fmt: skip
    counts = {"runs": 1, "succeeded": 0, "partial": 0, "failed": 0, "events_delivered": 0, "batches_dlq": 0}
    hour = {"connection_id": "wc_old", "organisation_id": 1, "bytes_delivered": 0, "latency_sum_ms": 0,
            "latency_count": 1, "latency_max_ms": 0, "last_delivery_at": None, "events_pending_at": None,
            "events_pending": None}  # fmt: skip
    await _insert_as_of(db, RunHourlyRollup.__table__, [
        {**hour, **counts, "hour": ok_at, "succeeded": 1, "events_delivered": 120, "latency_sum_ms": 120_000,
         "latency_max_ms": 120_000, "last_delivery_at": done, "events_pending_at": done, "events_pending": 4},
        {**hour, **counts, "hour": failed_at, "failed": 1},
    ])  # fmt: skip
    await _insert_as_of(db, EventHourlyRollup.__table__, [
        {"connection_id": "wc_old", "organisation_id": 1, "hour": ok_at, "event_type": t, "events": n}
        for t, n in (("evaluations", 100), ("custom_events", 20))
    ])  # fmt: skip
    day = NOW.replace(hour=0)
    await _insert_as_of(db, RunDailyRollup.__table__, [
        {"connection_id": "wc_old", "organisation_id": 1, "day": day, "runs": 2, "succeeded": 1, "partial": 0,
         "failed": 1, "events_delivered": 120, "batches_dlq": 0},
    ])  # fmt: skip
    return connection


async def test_migrations__upgrade_from_0002_with_data__data_kept_and_served(
    empty_db: Database, empty_url: str, tmp_path: Path
) -> None:
    await _alembic(empty_db.engine, "upgrade", "0002_metrics_rollups")
    connection = await _history_at_0002(empty_db)

    assert await migrate.upgrade(empty_db.engine) == ("0002_metrics_rollups", migrate.head_revision())

    async with empty_db.engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []
    async with empty_db.session(write=True) as session:
        assert await session.scalar(select(func.count()).select_from(Run)) == 3
        token = await auth_service.create_token(
            session, organisation_id=1, scopes=list(scopes.ALL), name="after-upgrade", now=NOW
        )
    settings = Settings(database_url=empty_url, data_dir=tmp_path, secret_key="k", dispatcher="none")
    app = create_app(settings, clock=FrozenClock(NOW), database=empty_db)
    headers = {"Authorization": f"Bearer {token.token}"}
    base = "http://pipepulse.test/api/v1/organisations/1/integrations/warehouse-connections/wc_old/"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as client:
        shown = (await client.get("", headers=headers)).json()
        telemetry = (await client.get("telemetry/", headers=headers)).json()
        runs = (await client.get("metrics/", headers=headers)).json()
    assert {k: shown[k] for k in ("name", "config", "state", "event_types")} == {
        k: connection[k] for k in ("name", "config", "state", "event_types")
    }
    assert telemetry["status"] == "degraded"
    assert telemetry["events_last_24h"] == {"evaluations": 100, "custom_events": 20, "total": 120}
    assert telemetry["recent_errors"] == [
        {"occurred_at": "2026-04-20T10:00:00Z", "message": "warehouse refused", "run_id": "r-failed"},
    ]
    assert [r["id"] for r in runs["items"]] == ["r-pending", "r-failed", "r-ok"]
    # The column added since 0002 works on the old rows: the connection is due and gets its run.
    result = await runner.tick(empty_db, settings, NoDispatcher(), NOW)
    assert result.seeded == 1


async def test_migrations__several_processes_upgrade_at_once__all_succeed_schema_made_once(
    empty_url: str,
) -> None:
    url = Settings(database_url=empty_url).resolved_database_url
    engines = [create_engine(url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate.upgrade(engine) for engine in engines))
        head = migrate.head_revision()
        # One process built the schema; the others waited for it and found nothing to do.
        assert sorted(results, key=lambda r: r[0] or "") == [(None, head), (head, head), (head, head)]
        async with engines[0].connect() as conn:
            assert await conn.run_sync(_schema_diff) == []
            versions = await conn.run_sync(
                lambda c: c.exec_driver_sql("SELECT version_num FROM alembic_version").all()
            )
        assert [tuple(v) for v in versions] == [(head,)]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_migrations__0020_rules_without_group_by__group_by_connection(empty_db: Database) -> None:
    """SPEC §7.4: a rule stored before the default without ``group_by`` now groups by connection;
    a rule that named its grouping keeps it."""
    await _alembic(empty_db.engine, "upgrade", "0017_channel_watchdog")
    text, json = sql_types.Text(), sql_types.JSON(none_as_null=True)
    channels = sql_table(
        "alert_channels", *(column(n, text) for n in ("id", "name", "kind", "url")),
        column("organisation_id", sql_types.Integer()), column("enabled", sql_types.Boolean()),
        column("created_at", Organisation.__table__.c.created_at.type),
    )  # fmt: skip
    rules = sql_table(
        "alert_rules", column("id", text), column("organisation_id", sql_types.Integer()),
        column("channel_id", text), column("events", json), column("connection_ids", json),
        column("min_duration_seconds", sql_types.Integer()), column("group_by", json),
        column("created_at", Organisation.__table__.c.created_at.type),
    )  # fmt: skip
    async with empty_db.session(write=True) as session:
        await session.execute(insert(ORGANISATIONS).values(id=1, slug="acme", name="Acme", created_at=NOW))
        await session.execute(
            insert(channels).values(
                id="ach_1", name="On-call", kind="webhook", url="https://hooks.example.com/x",
                organisation_id=1, enabled=True, created_at=NOW,
            )
        )  # fmt: skip
        common = {"organisation_id": 1, "channel_id": "ach_1", "events": ["status:error"],
                  "connection_ids": None, "min_duration_seconds": 0, "created_at": NOW}  # fmt: skip
        await session.execute(
            insert(rules),
            [
                {**common, "id": "arl_old", "group_by": None},
                {**common, "id": "arl_fp", "group_by": ["fingerprint"]},
            ],
        )

    assert await migrate.upgrade(empty_db.engine) == ("0017_channel_watchdog", migrate.head_revision())

    async with empty_db.engine.connect() as conn:
        found = dict((await conn.execute(select(rules.c.id, rules.c.group_by).order_by(rules.c.id))).all())
    assert found == {"arl_fp": ["fingerprint"], "arl_old": ["connection"]}


async def test_migrations__0021_with_alerting_rows__kept_and_platform_rows_dropped_on_downgrade(
    empty_db: Database,
) -> None:
    """Making ``organisation_id`` nullable keeps every organisation's channels, rules and delivery
    log (no table copy cascading into them); going back deletes only the platform's rows."""
    await _alembic(empty_db.engine, "upgrade", "0020_group_by_default")
    text, json, integer = sql_types.Text(), sql_types.JSON(none_as_null=True), sql_types.Integer()
    at = Organisation.__table__.c.created_at.type
    channels = sql_table(
        "alert_channels", *(column(n, text) for n in ("id", "name", "kind", "url")),
        column("organisation_id", integer), column("enabled", sql_types.Boolean()), column("created_at", at),
    )  # fmt: skip
    rules = sql_table(
        "alert_rules", column("id", text), column("organisation_id", integer), column("channel_id", text),
        column("events", json), column("min_duration_seconds", integer), column("group_by", json),
        column("created_at", at),
    )  # fmt: skip
    notifications = sql_table(
        "notifications", *(column(n, text) for n in ("id", "channel_id", "type", "state")),
        column("organisation_id", integer), column("payload", json), column("attempts", integer),
        column("due_at", at), column("created_at", at),
    )  # fmt: skip

    async def add(org: int | None, suffix: str) -> None:
        async with empty_db.session(write=True) as session:
            await session.execute(
                insert(channels).values(
                    id=f"ach_{suffix}", name="On-call", kind="webhook", url="https://hooks.example.com/x",
                    organisation_id=org, enabled=True, created_at=NOW,
                )
            )  # fmt: skip
            await session.execute(
                insert(rules).values(
                    id=f"arl_{suffix}", organisation_id=org, channel_id=f"ach_{suffix}",
                    events=["status:error"], min_duration_seconds=0, group_by=["connection"], created_at=NOW,
                )
            )  # fmt: skip
            await session.execute(
                insert(notifications).values(
                    id=f"ntf_{suffix}", channel_id=f"ach_{suffix}", type="test", state="delivered",
                    organisation_id=org, payload={}, attempts=1, due_at=NOW, created_at=NOW,
                )
            )  # fmt: skip

    async def ids() -> list[list[str]]:
        async with empty_db.engine.connect() as conn:
            return [
                list((await conn.execute(select(t.c.id).order_by(t.c.id))).scalars())
                for t in (channels, rules, notifications)
            ]

    async with empty_db.session(write=True) as session:
        await session.execute(insert(ORGANISATIONS).values(id=1, slug="acme", name="Acme", created_at=NOW))
    await add(1, "org")

    assert await migrate.upgrade(empty_db.engine) == ("0020_group_by_default", migrate.head_revision())
    assert await ids() == [["ach_org"], ["arl_org"], ["ntf_org"]]
    await add(None, "platform")
    assert await ids() == [
        ["ach_org", "ach_platform"],
        ["arl_org", "arl_platform"],
        ["ntf_org", "ntf_platform"],
    ]

    await _alembic(empty_db.engine, "downgrade", "0020_group_by_default")
    assert await ids() == [["ach_org"], ["arl_org"], ["ntf_org"]]
    async with empty_db.engine.connect() as conn:
        nullable = await conn.run_sync(
            lambda c: {t: [x["nullable"] for x in inspect(c).get_columns(t) if x["name"] == "organisation_id"]
                       for t in ("alert_channels", "alert_rules", "alert_groups", "notifications")}
        )  # fmt: skip
    assert nullable == {t: [False] for t in nullable}
