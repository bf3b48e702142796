"""A lease one replica holds at a time, kept as long as its holder lives (the evaluation
pass's, see alerts/selection_repository.py)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pipepulse.db.dialect import POSTGRESQL
from pipepulse.db.session import Database


class Lease:
    """One replica does the work at a time (PostgreSQL): the holder keeps a session-level
    advisory lock on ``key``, on a connection of its own, for as long as it lives; another
    replica takes over at its next try once that connection is gone. SQLite runs one
    scheduler, which always holds it."""

    def __init__(self, db: Database, key: int) -> None:
        self._db = db
        self._key = key
        self._connection: AsyncConnection | None = None
        # Whether the last :meth:`held` took the lease (rather than kept it): what this replica
        # remembers of earlier passes is then stale, and the next pass is a full one.
        self.taken = False

    async def held(self) -> bool:
        self.taken = False
        if self._db.dialect != POSTGRESQL:
            return True
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                await self._connection.commit()
                return True
            except Exception:  # the connection (and so the lock) is gone: try to take it again
                await self._close()
        connection = await self._db.engine.connect()
        try:
            got = bool(await connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}))
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if got:
            self._connection = connection
            self.taken = True
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                await self._connection.commit()
            finally:
                await self._close()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # already broken; the lock went with it
                pass
