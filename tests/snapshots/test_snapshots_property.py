"""Stored answers (issue 22 item 1) against the brute-force oracle: at random instants, between
random reports and pushes, the telemetry a stored answer serves is the fresh §3 answer.

Instants cluster where an answer changes (a run's time, and 24 hours and 7 days later) and
go backwards as well as forwards, so a stored answer is asked about just before, at and just
after the end of its horizon, and before it was computed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pipepulse.db.models import StatusSnapshot
from pipepulse.db.session import Database
from pipepulse.snapshots import horizon
from tests.conftest import FrozenClock, Tenant, iso, property_timeout
from tests.telemetry.oracle import RawRun, to_json
from tests.telemetry.oracle import telemetry as oracle_telemetry
from tests.telemetry.test_telemetry_property import BASE, EVENT_TYPES, WINDOW, _push, runs

SECOND = timedelta(seconds=1)
SPANS = (timedelta(0), timedelta(hours=24), timedelta(days=7))


def _times(history: list[RawRun]) -> list[datetime]:
    """The instants the answer can change at: each run's time, 24 hours and 7 days later."""
    times = [run.completed_at or run.started_at + WINDOW for run in history]
    return [t + span + nudge for t in times for span in SPANS for nudge in (-SECOND, timedelta(0), SECOND)]


async def _stored(db: Database, connection_id: str) -> StatusSnapshot | None:
    async with db.session() as session:
        return await session.scalar(
            select(StatusSnapshot).where(StatusSnapshot.connection_id == connection_id)
        )


async def _report(
    client: httpx.AsyncClient,
    url: str,
    key: dict[str, str],
    history: list[RawRun],
    data: st.DataObject,
    now: datetime,
) -> None:
    """Complete a pending run, or push a new one, at ``now``."""
    pending = [run for run in history if run.completed_at is None and run.started_at <= now]
    if pending and data.draw(st.booleans()):
        run = data.draw(st.sampled_from(pending))
        run.completed_at = max(run.started_at, now - timedelta(seconds=data.draw(st.integers(0, 3600))))
        run.events_delivered = data.draw(st.integers(0, 50))
        run.error = data.draw(st.sampled_from([None, "warehouse refused"]))
        body: dict[str, Any] = {
            "completed_at": iso(run.completed_at),
            "events_delivered": run.events_delivered,
            "batches_dlq": 0,
            "error": run.error,
        }
        response = await client.patch(f"{url}metrics/{run.id}/", json=body, headers=key)
        assert response.status_code == 204, response.text
        return
    ago = timedelta(seconds=data.draw(st.integers(0, 26 * 3600)))
    fresh = RawRun(id=f"n{len(history)}", started_at=now - ago)
    if data.draw(st.booleans()):
        fresh.completed_at = min(now, fresh.started_at + timedelta(seconds=data.draw(st.integers(0, 1800))))
        fresh.events_delivered = data.draw(st.integers(0, 50))
        fresh.batches_dlq = data.draw(st.sampled_from([0, 0, 2]))
    history.append(fresh)
    await _push(client, url + "metrics/", key, fresh)


@property_timeout(seconds_per_example=3.0)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), now_offset=st.integers(min_value=0, max_value=3 * 24 * 3600))
async def test_stored_answer__random_instants_and_reports__equals_brute_force_oracle(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
    data: st.DataObject,
    now_offset: int,
) -> None:
    now = BASE + timedelta(seconds=now_offset)
    history = data.draw(runs(now))
    clock.now = now
    created = await client.post(
        tenant.connections_url(), json={"name": "prop", "type": "duckdb"}, headers=tenant.write
    )
    connection_id = created.json()["id"]
    url = tenant.connection_url(connection_id)
    for run in history:
        await _push(client, url + "metrics/", service_key, run)

    anywhere = st.integers(-3600, 9 * 24 * 3600).map(lambda s: now + timedelta(seconds=s))
    for _ in range(data.draw(st.integers(2, 8))):
        if data.draw(st.integers(0, 4)) == 0:
            await _report(client, url, service_key, history, data, clock.now)
            continue
        edges = _times(history)
        clock.now = data.draw(st.one_of(st.sampled_from(edges), anywhere) if edges else anywhere)
        before = await _stored(db, connection_id)
        if (
            before is not None
            and before.answered_version == before.inputs_version
            and horizon.holds(before.valid_from, before.valid_until, clock.now)
        ):
            event("served from the stored answer")
        response = await client.get(url + "telemetry/", headers=tenant.read)
        assert response.status_code == 200
        assert response.json() == to_json(oracle_telemetry(history, EVENT_TYPES, clock.now, WINDOW))
        # The same instant again is served from what was stored, and to a client holding it is a 304.
        again = await client.get(
            url + "telemetry/", headers=tenant.read | {"If-None-Match": response.headers["ETag"]}
        )
        assert again.status_code == 304
        assert again.headers["ETag"] == response.headers["ETag"]
