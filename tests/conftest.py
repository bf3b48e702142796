"""Shared fixtures: a real database (SQLite or PostgreSQL), migrated once per run.

Pick the database with ``PIPEPULSE_TEST_DATABASE=sqlite|postgres`` (default sqlite).
PostgreSQL runs get a fresh database of their own, created here and dropped afterwards;
``PIPEPULSE_TEST_POSTGRES_URL`` says which server (default 127.0.0.1:5432). Every test
starts from empty tables.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.config import Settings
from pipepulse.db import migrate
from pipepulse.db.base import Base
from pipepulse.db.engine import create_engine
from pipepulse.db.session import Database
from pipepulse.delivery.channels import keys as channel_keys
from pipepulse.organisations import service as organisations_service

ON_CI = os.environ.get("CI") == "true"

# Property tests take their example count from this profile, never from the test itself:
# 200 per test is the floor the suite is held to (and what CI runs);
# PIPEPULSE_HYPOTHESIS_EXAMPLES=2000 digs deeper locally. Generated examples are judged on
# their answers, not their speed: on a busy 2-core machine a per-example deadline only makes
# the suite flaky.
MIN_EXAMPLES = 200
EXAMPLES = int(os.environ.get("PIPEPULSE_HYPOTHESIS_EXAMPLES", str(MIN_EXAMPLES)))
if ON_CI and EXAMPLES < MIN_EXAMPLES:
    raise pytest.UsageError(f"PIPEPULSE_HYPOTHESIS_EXAMPLES={EXAMPLES}: CI runs at least {MIN_EXAMPLES}")
# PIPEPULSE_HYPOTHESIS_DERANDOMIZE=1 (scripts/mutation's copies) draws the same examples on every
# run and keeps no example database: a mutant's verdict is then the same whichever mutants ran
# before it, at any example count.
DERANDOMIZE = os.environ.get("PIPEPULSE_HYPOTHESIS_DERANDOMIZE") == "1"
hypothesis_settings.register_profile(
    "pipepulse",
    max_examples=EXAMPLES,
    deadline=None,
    print_blob=True,
    **({"derandomize": True, "database": None} if DERANDOMIZE else {}),
)
hypothesis_settings.load_profile("pipepulse")

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
BACKEND = os.environ.get("PIPEPULSE_TEST_DATABASE", "sqlite")


def pytest_report_header() -> str:
    drawn = "derandomized" if DERANDOMIZE else "random"
    return f"pipepulse test database: {BACKEND}; hypothesis examples per property: {EXAMPLES} ({drawn})"


def property_timeout(seconds_per_example: float) -> pytest.MarkDecorator:
    """A per-test timeout for a property test that grows with the example count."""
    return pytest.mark.timeout(max(300, int(EXAMPLES * seconds_per_example)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out tests meant for the other database's pass (``@pytest.mark.only_on("postgres")``).

    They are deselected, not skipped: they run in their own pass, so nothing required is missing.
    """
    kept, other_pass = [], []
    for item in items:
        marker = item.get_closest_marker("only_on")
        (other_pass if marker is not None and BACKEND not in marker.args else kept).append(item)
    if other_pass:
        config.hook.pytest_deselected(items=other_pass)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On CI every test is required: a skipped test (no PostgreSQL, no Chromium) fails the run."""
    report: pytest.TestReport = yield
    if ON_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped on CI, where every test is required: {reason}"
    return report


@dataclass
class FrozenClock:
    """The injected clock: tests say what time it is."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


async def _create_postgres_database() -> tuple[str, str]:
    admin_url = os.environ.get("PIPEPULSE_TEST_POSTGRES_URL", DEFAULT_PG)
    name = f"pipepulse_test_{uuid.uuid4().hex[:10]}"
    admin = make_url(admin_url)
    try:
        conn = await asyncpg.connect(
            host=admin.host, port=admin.port or 5432, user=admin.username, database=admin.database
        )
    except (OSError, asyncpg.PostgresError) as exc:
        # A failure on CI (see pytest_runtest_makereport), a skip on a laptop without PostgreSQL.
        pytest.skip(f"PostgreSQL unreachable at {admin_url}: {exc}")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url, admin.set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(admin_url: str, url: str) -> None:
    admin = make_url(admin_url)
    conn = await asyncpg.connect(
        host=admin.host, port=admin.port or 5432, user=admin.username, database=admin.database
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def backend() -> str:
    return BACKEND


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A brand-new, empty database for this test run, as a user would type its URL."""
    if BACKEND == "postgres":
        admin_url, url = await _create_postgres_database()
        yield url
        await _drop_postgres_database(admin_url, url)
    elif BACKEND == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "pipepulse.db"
        yield f"sqlite:///{path}"
    else:
        raise RuntimeError(f"PIPEPULSE_TEST_DATABASE must be sqlite or postgres, not {BACKEND!r}")


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        secret_key="test-secret-key-of-at-least-32-characters",
        dispatcher="none",
    )


# PIPEPULSE_TEST_SQLITE_TEMPLATE=FILE (scripts/mutation's copies, where every mutant runs its own
# pytest session): the first session keeps its freshly migrated SQLite database in FILE and
# later sessions start from a copy of it instead of migrating again. No mutated module runs in
# a migration, so the copy is the database a migration would make.
SQLITE_TEMPLATE = os.environ.get("PIPEPULSE_TEST_SQLITE_TEMPLATE") if BACKEND == "sqlite" else None


@pytest.fixture(scope="session")
async def migrated_db(settings: Settings) -> AsyncIterator[Database]:
    template = Path(SQLITE_TEMPLATE) if SQLITE_TEMPLATE else None
    copied = template is not None and template.exists()
    if copied:
        shutil.copyfile(template, str(make_url(settings.database_url).database))
    db = Database(create_engine(settings.resolved_database_url))
    channel_keys.install(settings)
    if not copied:
        await migrate.upgrade(db.engine)
        if template is not None:
            await db.engine.dispose()  # the last connection closed folds the WAL into the file
            partial = template.with_name(f"{template.name}.{os.getpid()}")
            shutil.copyfile(str(make_url(settings.database_url).database), partial)
            partial.replace(template)
    yield db
    await db.dispose()


async def truncate_all(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with db.session(write=True) as session:
        # DELETE beats TRUNCATE on tables this small; children first for the foreign keys.
        for table in tables:
            await session.execute(text(f"DELETE FROM {table}"))
        if db.dialect == "postgresql":
            await session.execute(text("ALTER SEQUENCE organisations_id_seq RESTART WITH 1"))


@pytest.fixture
async def db(migrated_db: Database) -> Database:
    """The migrated database, emptied before the test."""
    await truncate_all(migrated_db)
    return migrated_db


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 4, 20, 12, 0, 0, tzinfo=UTC))


@pytest.fixture
def app(settings: Settings, db: Database, clock: FrozenClock) -> Any:
    return create_app(settings, clock=clock, database=db)


SITE = "http://pipepulse.test"


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    # A browser sends Origin on every form post; the dashboard refuses a post without it (or
    # a same-site Referer), so the test client sends it too.
    async with httpx.AsyncClient(transport=transport, base_url=SITE, headers={"Origin": SITE}) as c:
        yield c


@dataclass
class Tenant:
    """An organisation with the credentials a test needs to act in it."""

    id: int
    slug: str
    reader: str
    writer: str

    @property
    def read(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.reader}"}

    @property
    def write(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.writer}"}

    def connections_url(self) -> str:
        return f"/api/v1/organisations/{self.id}/integrations/warehouse-connections/"

    def connection_url(self, connection_id: str) -> str:
        return f"{self.connections_url()}{connection_id}/"


async def make_tenant(db: Database, slug: str, now: datetime) -> Tenant:
    async with db.session(write=True) as session:
        org = await organisations_service.create(session, slug=slug, name=slug.title(), now=now)
        reader = await auth_service.create_token(
            session, organisation_id=org.id, scopes=[scopes.READ_PIPELINE_METRICS], name="r", now=now
        )
        writer = await auth_service.create_token(
            session, organisation_id=org.id, scopes=list(scopes.ALL), name="w", now=now
        )
        return Tenant(id=org.id, slug=org.slug, reader=reader.token, writer=writer.token)


@pytest.fixture
async def tenant(db: Database, clock: FrozenClock) -> Tenant:
    return await make_tenant(db, "acme", clock.now)


@pytest.fixture
async def other_tenant(db: Database, clock: FrozenClock) -> Tenant:
    return await make_tenant(db, "globex", clock.now)


@pytest.fixture
async def service_key(db: Database, clock: FrozenClock) -> dict[str, str]:
    async with db.session(write=True) as session:
        issued = await auth_service.create_service_key(session, name="loader", now=clock.now)
    return {"Authorization": f"Bearer {issued.key}"}


@pytest.fixture
async def connection(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.post(
        tenant.connections_url(),
        json={"name": "Production warehouse", "type": "snowflake", "state": "connected"},
        headers=tenant.write,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def runs_url(tenant: Tenant, connection: dict[str, Any]) -> str:
    return tenant.connection_url(connection["id"]) + "metrics/"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests build Settings explicitly; a developer's PIPEPULSE_* must not leak into them.
    for key in list(os.environ):
        if key.startswith("PIPEPULSE_") and not key.startswith("PIPEPULSE_TEST_"):
            monkeypatch.delenv(key)
