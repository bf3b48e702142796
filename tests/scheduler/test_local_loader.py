"""The embedded default end to end: scheduler → in-process reference loader → DuckDB → report → telemetry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.loader.generator import generate_files
from pipepulse.local_loader import LocalDispatcher
from pipepulse.scheduler import runner
from tests.conftest import FrozenClock, Tenant


async def test_local_dispatcher__events_on_disk__delivered_to_duckdb_and_reported(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    # The loader stamps completion with the real clock; run the scenario at real time.
    clock.now = datetime.now(UTC).replace(microsecond=0)
    warehouse = tmp_path / "warehouse.duckdb"
    local = settings.model_copy(
        update={"loader_source_root": tmp_path / "source", "loader_destination": f"duckdb:///{warehouse}"}
    )
    healthy = await client.post(
        tenant.connections_url(),
        json={
            "name": "h",
            "type": "duckdb",
            "state": "connected",
            "config": {"source_prefix": "events/acme/h"},
        },
        headers=tenant.write,
    )
    broken = await client.post(
        tenant.connections_url(),
        json={
            "name": "b",
            "type": "postgres",
            "state": "connected",
            "config": {"source_prefix": "events/acme/b", "destination_url": "postgresql://x@127.0.0.1:1/w"},
        },
        headers=tenant.write,
    )
    files = generate_files(
        tmp_path / "source",
        tenant.id,
        now=clock.now - timedelta(minutes=1),
        source_prefix="events/acme/h",
        hours=2,
        files_per_hour=2,
        events_per_file=40,
        seed=3,
    )
    generate_files(
        tmp_path / "source",
        tenant.id,
        now=clock.now - timedelta(minutes=1),
        source_prefix="events/acme/b",
        hours=1,
        events_per_file=10,
        seed=4,
    )
    dispatcher = LocalDispatcher(db, local, clock)
    result = await runner.tick(db, local, dispatcher, clock.now)
    await dispatcher.drain()
    assert result.seeded == 2

    healthy_url = tenant.connection_url(healthy.json()["id"])
    run: dict[str, Any] = (await client.get(healthy_url + "metrics/", headers=tenant.read)).json()["items"][0]
    assert run["outcome"] == "succeeded"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        assert tables
        rows = con.execute(f"SELECT count(*) FROM {tables[0]}").fetchone()
    assert rows is not None
    assert run["events_delivered"] == rows[0] == sum(f.events for f in files) == 160
    telemetry = (await client.get(healthy_url + "telemetry/", headers=tenant.read)).json()
    assert telemetry["events_last_24h"]["total"] == 160
    assert telemetry["status"] == "active"

    broken_run = (
        await client.get(tenant.connection_url(broken.json()["id"]) + "metrics/", headers=tenant.read)
    ).json()["items"][0]
    assert broken_run["outcome"] == "failed"
    assert "127.0.0.1:1" in broken_run["error"]
