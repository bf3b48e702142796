"""Bulk ``latest`` from stored answers: unchanged connections cost one statement for the
whole page, a write recomputes only its connection, and another range is never stored."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from pipepulse.db.models import StatusSnapshot
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant
from tests.helpers import make_connection, push
from tests.snapshots.test_snapshots import _statements

URL = "/api/v1/telemetry/metrics/?size=500"


async def _stored(db: Database, connection_id: str) -> StatusSnapshot:
    async with db.session() as session:
        found = await session.scalar(
            select(StatusSnapshot).where(StatusSnapshot.connection_id == connection_id)
        )
    assert found is not None
    return found


def _queries(seen: list[str]) -> list[str]:
    # Transaction control aside (SQLite's driver sends BEGIN).
    return [s for s in seen if s.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK")]


async def test_bulk_latest__unchanged_connections__read_from_the_store_in_one_statement(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    conns = [await make_connection(client, tenant, f"c{i}") for i in range(4)]
    t = clock.now - timedelta(hours=1)
    for i, conn in enumerate(conns):
        await push(client, tenant, conn["id"], service_key, started_at=t, completed_at=t, events_delivered=i)
    first = await client.get(URL, headers=tenant.read)  # computes and stores every answer
    clock.advance(seconds=2)
    with _statements(db) as seen:
        second = await client.get(URL, headers=tenant.read)
    assert second.json()["result"] == first.json()["result"]
    assert [r["data"]["events_delivered"] for r in second.json()["result"]] == [0, 1, 2, 3]
    queries = _queries(seen)
    # The visible connections, then every stored answer in one statement; no run is read.
    assert len(queries) == 2, queries
    assert "status_snapshots" in queries[1]
    assert not any(" runs" in q or "run_hourly_rollups" in q for q in queries), queries

    # A report for one connection: only that one is computed again.
    await push(client, tenant, conns[2]["id"], service_key, started_at=t, completed_at=t, events_delivered=40)
    clock.advance(seconds=2)
    with _statements(db) as seen:
        third = await client.get(URL, headers=tenant.read)
    assert [r["data"]["events_delivered"] for r in third.json()["result"]] == [0, 1, 42, 3]
    async with db.session() as session:
        rows = {s.connection_id: s for s in await session.scalars(select(StatusSnapshot))}
    assert all(rows[c["id"]].latest_version == rows[c["id"]].inputs_version for c in conns)
    assert any("runs" in q for q in _queries(seen))


async def test_bulk_latest__horizon_passed__recomputed_and_the_answer_moves_on(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    conn = await make_connection(client, tenant, "c")
    t = clock.now - timedelta(hours=1)
    await push(client, tenant, conn["id"], service_key, started_at=t, completed_at=t, events_delivered=5)
    first = (await client.get(URL, headers=tenant.read)).json()["result"][0]["data"]
    assert (first["events_delivered"], first["status"]) == (5, "active")
    stored = await _stored(db, conn["id"])
    assert stored.latest_valid_until == t + timedelta(hours=24)
    clock.now = t + timedelta(hours=24) - timedelta(microseconds=1)
    before = (await client.get(URL, headers=tenant.read)).json()["result"][0]["data"]
    assert before["events_delivered"] == 5
    clock.now = t + timedelta(hours=24)
    at = (await client.get(URL, headers=tenant.read)).json()["result"][0]["data"]
    # The run left the status's window (t - 24h, t] at t + 24h; the counters' [t - 24h, t) still hold it.
    assert (at["status"], at["events_delivered"]) == ("idle", 5)
    clock.now = t + timedelta(hours=24, microseconds=1)
    after = (await client.get(URL, headers=tenant.read)).json()["result"][0]["data"]
    assert (after["status"], after["events_delivered"]) == ("idle", 0)


async def test_bulk_latest__another_range__computed_and_not_stored(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    conn = await make_connection(client, tenant, "c")
    t = clock.now - timedelta(hours=1)
    await push(client, tenant, conn["id"], service_key, started_at=t, completed_at=t, events_delivered=5)
    since = (clock.now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = (await client.get(f"{URL}&timestamp_from={since}", headers=tenant.read)).json()
    assert body["result"][0]["data"]["events_delivered"] == 5
    stored = await _stored(db, conn["id"])
    assert stored.latest_body is None
