"""The status read (SPEC §7.6) against a brute-force oracle that evaluates every second of small
generated histories, through the API, on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FrozenClock, Tenant
from tests.history.oracle import WINDOW, Run
from tests.history.test_status_history_api import push
from tests.objectives import oracle

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
SPAN = 30 * 3600  # histories reach 30 hours back, so runs also leave the 24-hour window


@st.composite
def histories(draw: st.DrawFn) -> list[Run]:
    runs = []
    for i in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["ok", "ok", "empty", "partial", "failed", "failed", "orphan"]))
        at = NOW - draw(st.integers(0, SPAN)) * SECOND
        if kind == "orphan":
            runs.append(Run(id=f"r{i}", started_at=at - WINDOW))
        else:
            runs.append(
                Run(
                    id=f"r{i}",
                    started_at=at - draw(st.integers(1, 600)) * SECOND,
                    completed_at=at,
                    events_delivered=0 if kind in ("empty", "failed") else draw(st.integers(1, 50)),
                    batches_dlq=2 if kind == "partial" else 0,
                    error="boom" if kind == "failed" else None,
                )
            )
    return runs


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(runs=histories(), data=st.data())
async def test_objective_status__random_history__agrees_with_the_second_by_second_oracle(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    runs: list[Run],
    data: st.DataObject,
) -> None:
    indicator = data.draw(st.sampled_from(["availability", "freshness"]))
    target = data.draw(st.sampled_from([50.0, 90.0, 99.0, 99.5, 99.9, 99.999]))
    sla = data.draw(st.integers(60, 4 * 3600)) * SECOND
    state = data.draw(st.sampled_from(["connected", "connected", "error", "paused"]))
    created_at = NOW - data.draw(st.integers(0, SPAN)) * SECOND
    window: oracle.DailyWindow | None = None
    if data.draw(st.booleans()):
        window = oracle.DailyWindow(
            start_minute=data.draw(st.integers(0, 1439)),
            minutes=data.draw(st.integers(1, 600)),
            applies=data.draw(st.booleans()),
        )
    clock.now = created_at
    body: dict[str, Any] = {
        "name": "W",
        "type": "duckdb",
        "state": state,
        "freshness_sla_seconds": sla.seconds,
    }
    created = await client.post(tenant.connections_url(), json=body, headers=tenant.write)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    clock.now = NOW
    url = tenant.connection_url(cid)
    for run in runs:
        await push(client, url, service_key, run)
    if window is not None:
        # A window matching the connection and, when it applies, the indicator's condition.
        condition = {"availability": "error", "freshness": "late"}[indicator]
        if not window.applies:
            condition = {"error": "late", "late": "error"}[condition]
        made = await client.post(
            f"/api/v1/organisations/{tenant.id}/maintenance-windows/",
            json={
                "matchers": {"connection": cid, "condition": condition},
                "time_zone": "UTC",
                "weekdays": list(range(7)),
                "start": f"{window.start_minute // 60:02d}:{window.start_minute % 60:02d}",
                "duration_minutes": window.minutes,
            },
            headers=tenant.write,
        )
        assert made.status_code == 201, made.text
    objective = await client.post(
        url + "objectives/",
        json={"indicator": indicator, "target_percent": target, "window_days": 7},
        headers=tenant.write,
    )
    assert objective.status_code == 201, objective.text

    response = await client.get(url + f"objectives/{objective.json()['id']}/status/", headers=tenant.read)

    assert response.status_code == 200, response.text
    got = response.json()
    counts = oracle.count(runs, indicator, created_at, sla, state, window, NOW, 7)
    whole = counts["window"]
    allowed = oracle.allowed(target)
    budget = whole.counted * allowed
    assert got["budget_seconds"] == float(budget)
    assert got["budget_spent_seconds"] == float(whole.bad)
    assert got["sli_percent"] == float(100 * (1 - Fraction(whole.bad, whole.counted)))
    assert got["budget_remaining_percent"] == float(100 * (budget - whole.bad) / budget)
    assert got["burn_rates"] == {name: oracle.burn(counts[name], target) for name in oracle.LOOKBACKS}
    burn_24h = Fraction(counts["24h"].bad, counts["24h"].counted)
    if budget - whole.bad <= 0:
        expected = NOW
    elif burn_24h == 0:
        expected = None
    else:
        expected = NOW + timedelta(seconds=int((budget - whole.bad) / burn_24h))
    assert got["exhausted_at"] == (expected and expected.strftime("%Y-%m-%dT%H:%M:%SZ"))
