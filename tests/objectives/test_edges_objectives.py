"""Edge tables of the objectives' windows (the style of tests/edges.py), through the status read
on the test database (so on SQLite and on PostgreSQL).

docs/objectives.md: the window is ``[now - window_days, now)`` and a burn rate over ``L`` reads
the bad time of ``[now - L, now)``. One bad second — a connection whose only run of the day
fails at ``s`` (error from its completion, SPEC §3) and which delivers again at ``s + 1 s`` —
is placed one second before each edge, exactly on it and one second after, and the read says
how much of it each window holds: the budget spent (seconds) and the 1 h and 6 h burn rates.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from tests.conftest import FrozenClock, Tenant
from tests.edges import DAY, HOUR, SECOND, Edge, around, table
from tests.helpers import push
from tests.objectives.test_objectives_api import add_connection, add_objective, conn_objectives

TARGET = 99  # 1 % of the counted time may be bad
WINDOW_DAYS = 7
# One bad second read against the last hour and the last six hours, divided by the 1 % allowed.
IN_1H = 1 / 3600 / 0.01
IN_6H = 1 / 21600 / 0.01
NONE = (0.0, 0.0, 0.0)

# (budget spent in seconds, 1 h burn rate, 6 h burn rate) for the bad second starting at the row.
OBJECTIVE_WINDOWS = [
    *around("window_start", -WINDOW_DAYS * DAY, before=NONE, on=(1.0, 0.0, 0.0), after=(1.0, 0.0, 0.0)),
    *around("window_end", timedelta(0), before=(1.0, IN_1H, IN_6H), on=NONE, after=NONE),
    *around("burn_1h", -HOUR, before=(1.0, 0.0, IN_6H), on=(1.0, IN_1H, IN_6H), after=(1.0, IN_1H, IN_6H)),
    *around("burn_6h", -6 * HOUR, before=(1.0, 0.0, 0.0), on=(1.0, 0.0, IN_6H), after=(1.0, 0.0, IN_6H)),
]


async def one_bad_second(
    client: httpx.AsyncClient, tenant: Tenant, key: dict[str, str], clock: FrozenClock, cid: str, at: datetime
) -> None:
    """A failing run finished at ``at`` (error from then) and a delivering one a second later."""
    now = clock.now
    clock.now = max(now, at + SECOND)  # a run may not finish after the clock
    await push(client, tenant, cid, key, started_at=at - HOUR, completed_at=at, error="refused")
    await push(client, tenant, cid, key, started_at=at - HOUR, completed_at=at + SECOND, events_delivered=5)
    clock.now = now


@table(OBJECTIVE_WINDOWS)
async def test_edges__objective_windows__bad_time_counted_from_the_start_inclusive_to_now_exclusive(
    row: Edge, client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    now = clock.now
    cid = await add_connection(client, tenant)
    made = await add_objective(
        client,
        conn_objectives(tenant, cid),
        tenant,
        indicator="availability",
        target_percent=TARGET,
        window_days=WINDOW_DAYS,
    )
    await one_bad_second(client, tenant, service_key, clock, cid, now + row.instant)

    response = await client.get(f"{conn_objectives(tenant, cid)}{made['id']}/status/", headers=tenant.read)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["window_start"] == (now - WINDOW_DAYS * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    spent, burn_1h, burn_6h = row.expected
    assert (body["budget_spent_seconds"], body["burn_rates"]["1h"], body["burn_rates"]["6h"]) == (
        spent,
        burn_1h,
        burn_6h,
    )
