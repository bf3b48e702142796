"""Fixtures for the loader: a source bucket, real warehouses, and a scripted HTTP server."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pipepulse.wire.invocation import LoaderJob
from tests.loader.support import ScriptedServer, Warehouse

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def source_root(tmp_path: Path) -> Path:
    root = tmp_path / "bucket"
    root.mkdir()
    return root


@pytest.fixture
def job() -> LoaderJob:
    return LoaderJob(run_id="run_1", connection_id=f"wc_{uuid.uuid4().hex[:8]}", organisation_id=7)


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[tuple[str, str]]:
    """A schema of this test run's own on the real PostgreSQL: (server URL, schema)."""
    admin_url = os.environ.get("PIPEPULSE_TEST_POSTGRES_URL", DEFAULT_PG)
    schema = f"loader_{uuid.uuid4().hex[:10]}"
    try:
        connection = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        # A failure on CI (see tests/conftest.py), a skip on a laptop without PostgreSQL.
        pytest.skip(f"PostgreSQL unreachable at {admin_url}: {exc}")
    with connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield admin_url, schema
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _postgres_warehouse(pg_schema: tuple[str, str]) -> Warehouse:
    admin_url, schema = pg_schema
    table = f"events_{uuid.uuid4().hex[:8]}"
    url = f"{admin_url}?schema={schema}&table={table}"
    return Warehouse("postgresql", url, table, admin_url=admin_url, schema=schema)


def _duckdb_warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse("duckdb", f"duckdb://{tmp_path / 'warehouse.duckdb'}", "pipepulse_events")


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres_only)])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    """Each real destination in turn: a DuckDB file, then a table on PostgreSQL."""
    if request.param == "duckdb":
        return _duckdb_warehouse(tmp_path)
    return _postgres_warehouse(request.getfixturevalue("pg_schema"))


@pytest.fixture
def postgres_warehouse(pg_schema: tuple[str, str]) -> Warehouse:
    return _postgres_warehouse(pg_schema)


@pytest.fixture
def duckdb_warehouse(tmp_path: Path) -> Warehouse:
    return _duckdb_warehouse(tmp_path)


@pytest.fixture
def api_server() -> Iterator[ScriptedServer]:
    """A real HTTP server on 127.0.0.1 that plays the pipepulse API from a script."""
    scripted = ScriptedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), scripted.handler())
    scripted.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield scripted
    httpd.shutdown()
    httpd.server_close()
