"""SQL for OpenLineage ingest: the connection a job feeds, and what a run says beyond its row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.connections import repository as connections_repository
from pipepulse.db import dialect
from pipepulse.db.models import LineageRun, WarehouseConnection

job_key = connections_repository.lineage_key


async def connection_for_job(
    session: AsyncSession, organisation_id: int, namespace: str, name: str
) -> WarehouseConnection | None:
    return await connections_repository.by_lineage_key(session, organisation_id, job_key(namespace, name))


async def insert_connection_if_absent(session: AsyncSession, values: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on (organisation, job): two first events make one."""
    stmt = (
        dialect.insert(dialect.name_of(session), WarehouseConnection)
        .values(values)
        .on_conflict_do_nothing(index_elements=["organisation_id", "lineage_key"])
    )
    await session.execute(stmt)


async def keep_run_details(
    session: AsyncSession,
    *,
    connection_id: str,
    run_id: str,
    organisation_id: int,
    nominal_start_at: datetime | None,
    nominal_end_at: datetime | None,
    parent: tuple[str, str, str] | None,
) -> None:
    """Keep the run's nominal time and parent the first time an event gives them."""
    if nominal_start_at is None and parent is None:
        return
    stmt = (
        dialect.insert(dialect.name_of(session), LineageRun)
        .values(
            connection_id=connection_id,
            run_id=run_id,
            organisation_id=organisation_id,
            nominal_start_at=nominal_start_at,
            nominal_end_at=nominal_end_at,
            parent_namespace=parent[0] if parent else None,
            parent_name=parent[1] if parent else None,
            parent_run_id=parent[2][:64] if parent else None,
        )
        .on_conflict_do_nothing(index_elements=["connection_id", "run_id"])
    )
    await session.execute(stmt)


async def run_details(session: AsyncSession, connection_id: str, run_id: str) -> LineageRun | None:
    return await session.get(LineageRun, (connection_id, run_id))
