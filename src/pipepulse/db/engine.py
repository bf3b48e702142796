"""Engine construction: turns the URL a user types into the async driver URL."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


class UnsupportedDatabaseURL(ValueError):
    pass


def async_database_url(url: str) -> str:
    """``postgresql://…`` → ``postgresql+asyncpg://…``; ``sqlite:///…`` → ``sqlite+aiosqlite:///…``."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    raise UnsupportedDatabaseURL(
        f"unsupported database URL {parsed.render_as_string()!r}: "
        "use postgresql://user@host/db or sqlite:///path.db"
    )


def embedded(url: str) -> bool:
    """Whether the database is a file of this installation (SQLite): one machine, whose data
    directory may hold what the database's data needs (the channel-secret key)."""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


# How pipepulse's PostgreSQL sessions plan and run its statements (bench/floor.py's same-work
# floor runs them the same way).
POSTGRES_SESSION = {
    # Every statement is prepared once per connection and reused with parameters. PostgreSQL
    # would otherwise re-plan some of them on every execution (a custom plan for each set of
    # values); the report statement's plan costs five times its execution. Every read is
    # bounded by an index whatever the values, so a plan made once serves them all.
    "plan_cache_mode": "force_generic_plan",
    # Every read is bounded by an index; worker processes only add their start-up to answers of
    # a few milliseconds (a parallel plan doubled organisation health).
    "max_parallel_workers_per_gather": "0",
    # Nor does compiling a statement to machine code pay: a generic plan's cost estimate
    # passes jit_above_cost on reads that run for milliseconds, and the compilation took
    # 14-19 ms of each organisation-health answer.
    "jit": "off",
}


def create_engine(
    url: str, *, pool_size: int = 20, connect_timeout_s: float = 5.0, pool_timeout_s: float = 10.0
) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # connecting will fail with the real reason, answered as 503
        engine = create_async_engine(
            url,
            poolclass=NullPool if path is None else None,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        # No overflow: a connection opened past the pool's size was closed again when handed
        # back, so under a burst every request paid a new connection (a backend started, types
        # looked up, every statement prepared again) — 360 telemetry reads a second at 32
        # clients with 10 + 10, 1,100 with 10 + 0, 1,160 with 20 + 0. A request waits for a
        # pooled connection instead (up to the pool timeout, then 503).
        max_overflow=0,
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_timeout=pool_timeout_s,
        connect_args={
            "timeout": connect_timeout_s,
            "server_settings": {"application_name": "pipepulse", **POSTGRES_SESSION},
        },
    )


def _enable_wal(cursor: Any) -> None:
    """Switch a database file to WAL. On a new file, processes opening it at once (``serve``
    and ``scheduler`` started together) each need an exclusive lock for the switch, and SQLite
    answers "database is locked" at once rather than wait where waiting could deadlock: retry
    until one has switched it (then it is a no-op for the rest)."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling would start transactions lazily and never use
    # BEGIN IMMEDIATE; we take over so write transactions lock up front and never fail
    # half-way with SQLITE_BUSY when upgrading a read lock.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("pipepulse_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
