"""Rebuilding the rollups from raw runs: a no-op after ingest, a repair after damage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from pipepulse.db.models import EventHourlyRollup, RunDailyRollup, RunHourlyRollup
from pipepulse.db.session import Database
from pipepulse.rollups import rebuild
from tests.conftest import FrozenClock, Tenant
from tests.helpers import make_connection, push


async def _rollups(db: Database) -> list[Any]:
    out = []
    async with db.session() as session:
        for table in (RunHourlyRollup, EventHourlyRollup, RunDailyRollup):
            rows = (await session.scalars(select(table))).all()
            out.append(sorted(
                tuple(getattr(r, c.key) for c in table.__table__.columns) for r in rows  # type: ignore[attr-defined]
            ))  # fmt: skip
    return out


async def test_rebuild__after_ingest__changes_nothing_and_repairs_damage(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    conn = await make_connection(client, tenant)
    for i in range(6):
        t = clock.now - timedelta(minutes=37 * i)
        await push(
            client, tenant, conn["id"], service_key, started_at=t - timedelta(seconds=i), completed_at=t,
            events_delivered=i, events_pending=i % 2 or None, batches_dlq=i % 3 // 2,
            events_by_type={"evaluations": i} if i % 2 else None,
        )  # fmt: skip
    before = await _rollups(db)
    assert all(before)
    async with db.session(write=True) as session:
        counts = await rebuild.rebuild(session)
    assert counts.runs == 6
    assert await _rollups(db) == before
    async with db.session(write=True) as session:
        await session.execute(RunHourlyRollup.__table__.delete())
    async with db.session(write=True) as session:
        await rebuild.rebuild(session, conn["id"])
    assert await _rollups(db) == before
