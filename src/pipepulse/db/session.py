"""Sessions: one transaction per request, job or command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from pipepulse.db import dialect


class Database:
    """The engine plus two session factories: plain reads and write transactions.

    On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers
    queue on the busy timeout instead of failing when a read lock cannot be upgraded.
    PostgreSQL ignores the distinction.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._read = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(
            engine.execution_options(pipepulse_write=True),
            expire_on_commit=False,
            autoflush=False,
        )
        # PostgreSQL's own transaction of a single statement: no BEGIN or COMMIT round trip.
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        one_statement = dialect.completes_in_one_statement(engine.dialect.name)
        self._statements = (
            async_sessionmaker(autocommit, expire_on_commit=False, autoflush=False)
            if one_statement
            else self._write
        )
        # Reads, likewise: at READ COMMITTED each statement sees its own snapshot inside a
        # transaction too, so BEGIN and COMMIT would be two round trips that change nothing.
        self._read_statements = self._statements if one_statement else self._read
        self._read_engine = autocommit if one_statement else engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(
        self, *, write: bool = False, statements: bool = False, read_statements: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on any error.

        ``statements=True`` is for work whose every write is one self-contained statement
        (reports on PostgreSQL): each statement then commits on its own, without a
        transaction around them; where that is not how writes are made (SQLite), it is a
        write transaction like any other. ``read_statements=True`` is the same for reads
        (PostgreSQL: no transaction; SQLite: a plain read).
        """
        if read_statements:
            factory = self._read_statements
        else:
            factory = self._statements if statements else self._write if write else self._read
        async with factory() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def read_connection(self) -> AsyncIterator[AsyncConnection]:
        """A plain connection for a read of Core statements, without an ORM session.

        For the hottest one-statement reads: the session's transaction bookkeeping and ORM
        execution cost more CPU than the statement (0.52 against 0.33 ms a read of a stored
        telemetry answer, benchmarks.md). PostgreSQL: no transaction, as ``read_statements``.
        Whoever holds a session must give its connection back (commit) before taking this one:
        a request holding one pooled connection while it waits for a second would, in a burst
        as large as the pool, wait on itself.
        """
        async with self._read_engine.connect() as connection:
            yield connection

    async def dispose(self) -> None:
        await self.engine.dispose()
