"""SPEC §3 end to end: random histories pushed through the API, telemetry read back,
compared with the brute-force oracle. Times cluster on the window edges on purpose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FrozenClock, Tenant, iso, property_timeout
from tests.telemetry.oracle import RawRun, to_json
from tests.telemetry.oracle import telemetry as oracle_telemetry

WINDOW = timedelta(minutes=15)
EVENT_TYPES = ["evaluations", "custom_events"]
BASE = datetime(2026, 4, 20, 12, 0, 0, tzinfo=UTC)


def _edge_offsets() -> st.SearchStrategy[timedelta]:
    """Offsets before `now` that sit on, just inside or just outside each window edge."""
    edges = [
        timedelta(0),
        timedelta(hours=24),
        timedelta(days=7),
        WINDOW,
        timedelta(hours=24) + WINDOW,
        timedelta(days=7) + WINDOW,
    ]
    near = st.sampled_from(edges).flatmap(
        lambda e: st.sampled_from([-1, 0, 1]).map(lambda d: e + timedelta(seconds=d))
    )
    anywhere = st.integers(min_value=-240, max_value=9 * 24 * 3600).map(lambda s: timedelta(seconds=s))
    return st.one_of(near, near, anywhere)


@st.composite
def runs(draw: st.DrawFn, now: datetime) -> list[RawRun]:
    count = draw(st.integers(min_value=0, max_value=14))
    out = []
    for i in range(count):
        kind = draw(st.sampled_from(["ok", "ok", "partial", "failed", "pending"]))
        if kind == "pending":
            started = now - draw(_edge_offsets())
            started = min(started, now + timedelta(minutes=4))
            out.append(RawRun(id=f"r{i}", started_at=started))
            continue
        completed = now - draw(_edge_offsets())
        completed = min(completed, now + timedelta(minutes=4))
        started = completed - timedelta(seconds=draw(st.integers(min_value=0, max_value=3600)))
        delivered = draw(st.integers(min_value=0, max_value=500))
        breakdown: dict[str, int] | None = None
        if draw(st.booleans()):
            evaluations = draw(st.integers(min_value=0, max_value=delivered))
            breakdown = {"evaluations": evaluations, "custom_events": delivered - evaluations}
        out.append(
            RawRun(
                id=f"r{i}",
                started_at=started,
                completed_at=completed,
                events_delivered=delivered,
                events_by_type=breakdown,
                batches_dlq=draw(st.integers(min_value=1, max_value=5)) if kind == "partial" else 0,
                error=f"boom {i}" if kind == "failed" else None,
            )
        )
    return out


async def _push(client: httpx.AsyncClient, runs_url: str, key: dict[str, str], run: RawRun) -> None:
    body: dict[str, Any] = {"run_id": run.id, "started_at": iso(run.started_at)}
    if run.completed_at is not None:
        body.update(
            completed_at=iso(run.completed_at),
            events_delivered=run.events_delivered,
            batches_dlq=run.batches_dlq,
            error=run.error,
        )
        if run.events_by_type is not None:
            body["events_by_type"] = run.events_by_type
    response = await client.post(runs_url, json=body, headers=key)
    assert response.status_code == 201, response.text


@property_timeout(seconds_per_example=1.0)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    data=st.data(),
    now_offset=st.integers(min_value=0, max_value=3 * 24 * 3600),
)
async def test_telemetry__random_history__matches_brute_force_oracle(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    data: st.DataObject,
    now_offset: int,
) -> None:
    now = BASE + timedelta(seconds=now_offset)
    history = data.draw(runs(now))
    clock.now = now
    created = await client.post(
        tenant.connections_url(), json={"name": "prop", "type": "duckdb"}, headers=tenant.write
    )
    connection_url = tenant.connection_url(created.json()["id"])
    for run in history:
        await _push(client, connection_url + "metrics/", service_key, run)

    # Read a little later too: orphans appear and runs slide out of the windows.
    for later in (timedelta(0), timedelta(seconds=data.draw(st.integers(0, 26 * 3600)))):
        clock.now = now + later
        response = await client.get(connection_url + "telemetry/", headers=tenant.read)
        assert response.status_code == 200
        expected = oracle_telemetry(history, EVENT_TYPES, clock.now, WINDOW)
        assert response.json() == to_json(expected)
