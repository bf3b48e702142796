"""Request-scoped dependencies: the database session, the clock, the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.config import Settings
from pipepulse.db.session import Database

Clock = Callable[[], datetime]


# These are async on purpose: FastAPI runs plain `def` dependencies in a thread pool, a
# hop that cost more than everything they do.
async def get_database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_now(request: Request) -> datetime:
    """The request's ``now``: read once, so every rule in one answer uses the same instant."""
    clock: Clock = request.app.state.clock
    return clock()


async def read_session(
    db: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    async with db.session() as session:
        yield session


async def write_session(
    db: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    async with db.session(write=True) as session:
        yield session


async def statement_session(
    db: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    """Writes that are each one statement (reports): see Database.session(statements=True)."""
    async with db.session(statements=True) as session:
        yield session


# scope="function": the transaction commits before the response is sent, so a client that
# sees 2xx can rely on the write being durable.
ReadSession = Annotated[AsyncSession, Depends(read_session, scope="function")]
WriteSession = Annotated[AsyncSession, Depends(write_session, scope="function")]
StatementSession = Annotated[AsyncSession, Depends(statement_session, scope="function")]
Now = Annotated[datetime, Depends(get_now)]
AppSettings = Annotated[Settings, Depends(get_settings)]
