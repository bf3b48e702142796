"""Bulk ``latest`` from stored answers (issue 22) against the brute-force oracle: at random
instants after random timelines, and after more steps played on top, every connection's
values in ``GET /telemetry/metrics/`` (the default 24 hours) are the oracle's ``latest``
over ``[t - 24h, t)``, whether computed or served from what was stored.

Instants cluster where an answer changes — a run's time and 24 hours later, a tick and a
second either side — and go backwards as well as forwards, so a stored answer is asked about
before it was computed, inside its horizon, at its end and after it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import select

from pipepulse.config import Settings
from pipepulse.db.models import StatusSnapshot
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, make_tenant, property_timeout
from tests.helpers import make_connection
from tests.metrics import oracle
from tests.metrics.test_metrics_property import PROFILE, WINDOW, History, N, _serial, step, timeline

TICK = timedelta(microseconds=1)
SECOND = timedelta(seconds=1)


def _edges(history: History, since: datetime) -> list[datetime]:
    """Instants at which some connection's answer can change, from ``since`` on."""
    times = [r.completed_at or r.started_at + WINDOW for r in history.runs.values()]
    near = (-SECOND, -TICK, timedelta(0), TICK, SECOND)
    candidates = {t + span + nudge for t in times for span in (timedelta(0), oracle.DAY) for nudge in near}
    return sorted(t for t in candidates if t >= since)


async def _served_stored(db: Database, history: History, at: datetime) -> int:
    """How many of the history's connections have a stored answer that holds at ``at``."""
    ids = [c["id"] for c in history.conns]
    async with db.session() as session:
        found = await session.scalars(select(StatusSnapshot).where(StatusSnapshot.connection_id.in_(ids)))
        rows = found.all()
    return sum(
        1
        for s in rows
        if s.latest_version is not None
        and s.latest_version == s.inputs_version
        and s.latest_valid_from is not None
        and s.latest_valid_from <= at
        and (s.latest_valid_until is None or at < s.latest_valid_until)
    )


async def _check(client: httpx.AsyncClient, history: History, ids: str, at: datetime) -> None:
    body = (
        await client.get(f"/api/v1/telemetry/metrics/?ids={ids}&size=500", headers=history.tenant.read)
    ).json()
    assert body["total"] == len(history.conns), body
    for item in body["result"]:
        mine = history.of(item["id"])
        types = history.types[item["id"]]
        assert item["data"] == oracle.to_json(oracle.latest(mine, types, at - oracle.DAY, at, at, WINDOW, N))


async def _instants(
    client: httpx.AsyncClient, history: History, db: Database, data: st.DataObject, ids: str, since: datetime
) -> None:
    anywhere = st.integers(0, 3 * 24 * 3600).map(lambda s: since + timedelta(seconds=s))
    for _ in range(data.draw(st.integers(1, 4), label="reads")):
        edges = _edges(history, since)
        at = data.draw(st.one_of(st.sampled_from(edges), anywhere) if edges else anywhere, label="at")
        history.clock.now = at
        if await _served_stored(db, history, at):
            event("some answers served from the store")
        await _check(client, history, ids, at)
        # The same instant again: now every answer is a stored one, and still the oracle's.
        assert await _served_stored(db, history, at) == len(history.conns)
        await _check(client, history, ids, at)


@property_timeout(seconds_per_example=4.0)
@PROFILE
@given(data=st.data(), steps=timeline, more=st.lists(st.tuples(st.integers(0, 1), step), max_size=4))
async def test_bulk_latest__stored_answers_at_random_instants__equal_brute_force(
    client: httpx.AsyncClient,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    service_key: dict[str, str],
    data: st.DataObject,
    steps: list[tuple[int, int, int, dict[str, Any]]],
    more: list[tuple[int, dict[str, Any]]],
) -> None:
    base = clock.now.replace(hour=12, minute=0, second=0, microsecond=0)
    clock.now = base - timedelta(days=2)
    tenant = await make_tenant(db, f"stored-{next(_serial)}", clock.now)
    conns = [await make_connection(client, tenant, "a"), await make_connection(client, tenant, "b")]
    history = History(client, tenant, service_key, conns, clock, db, settings)
    for slot, gap_min, second, spec in steps:
        clock.now = (clock.now + timedelta(minutes=gap_min)).replace(second=second)
        await history.play(conns[slot], spec)
    ids = ",".join(c["id"] for c in conns)
    last_write = clock.now
    await _instants(client, history, db, data, ids, last_write)
    # More steps after the answers were stored (from the latest instant read, so time moves
    # on): each write must invalidate what was stored for its connection.
    # Whole seconds, as the timelines write (reports carry their times to the second).
    clock.now = max(clock.now, last_write).replace(microsecond=0) + SECOND
    for slot, spec in more:
        clock.now += timedelta(minutes=data.draw(st.sampled_from([0, 1, 30, 600]), label="gap"))
        await history.play(conns[slot], spec)
    await _instants(client, history, db, data, ids, clock.now)
