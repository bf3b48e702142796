"""What every ``pipepulse`` command shares: settings, a migrated database, one-line errors, output.

Sub-command groups that live beside their feature (``rollups``) import this, never ``cli``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from pipepulse.config import Settings, describe_invalid
from pipepulse.db.engine import UnsupportedDatabaseURL, create_engine
from pipepulse.db.migrate import SchemaOutOfDate, ensure_schema
from pipepulse.db.session import Database
from pipepulse.delivery.channels import keys as channel_keys
from pipepulse.errors import AppError

T = TypeVar("T")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def load_settings() -> Settings:
    try:
        settings = Settings()
        _ = settings.resolved_database_url
    except ValidationError as exc:
        raise fail(describe_invalid(exc)) from None
    except (ValueError, UnsupportedDatabaseURL) as exc:
        raise fail(str(exc)) from None
    return settings


def with_database(
    settings: Settings, work: Callable[[Database], Awaitable[T]], *, check_schema: bool = True
) -> T:
    """Run ``work`` against a migrated database, turning known failures into one-line errors."""

    async def run() -> T:
        db = Database(create_engine(settings.resolved_database_url))
        channel_keys.install(settings)
        try:
            if check_schema:
                await ensure_schema(db, auto_migrate=settings.auto_migrate)
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except AppError as exc:
        raise fail(exc.detail) from None
    except SchemaOutOfDate as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot reach the database: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith(("sqlalchemy", "asyncpg", "sqlite3")):
            raise fail(f"database error: {exc}") from None
        raise


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    if as_json:
        typer.echo(json.dumps(payload))
    else:
        typer.echo(text)
