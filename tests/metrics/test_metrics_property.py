"""Random histories pushed through the API: every endpoint's numbers equal a brute-force oracle."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipepulse.db.session import Database
from pipepulse.metrics import buckets
from pipepulse.metrics.service import jsonable
from tests.conftest import FrozenClock, iso, make_tenant
from tests.helpers import make_connection
from tests.metrics import oracle

WINDOW = timedelta(minutes=15)
N = 3
_serial = itertools.count()

run_spec = st.fixed_dictionaries(
    {
        "slot": st.integers(0, 1),
        "start_min": st.integers(-5, 3 * 24 * 60),  # minutes before now
        "second": st.sampled_from([0, 0, 0, 17, 59]),
        "duration_min": st.sampled_from([0, 1, 5, 20, 60]),
        "kind": st.sampled_from(["succeeded", "succeeded", "partial", "failed", "pending"]),
        "events": st.integers(0, 40),
        "typed": st.booleans(),
        "latency": st.one_of(st.none(), st.integers(0, 5000)),
        "pending": st.one_of(st.none(), st.integers(0, 90)),
    }
)
granularity = st.sampled_from(
    [("minute", 30), ("minute", 7), ("hour", 1), ("hour", 5), ("day", 1), ("week", 1), ("month", 1)]
)
PROFILE = settings(
    max_examples=int(__import__("os").environ.get("PROP_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def _push_history(
    client: httpx.AsyncClient,
    tenant: Any,
    key: dict[str, str],
    conns: list[dict[str, Any]],
    specs: list[Any],
    now: Any,
) -> list[oracle.R]:
    runs = []
    for spec in specs:
        conn = conns[spec["slot"]]
        started = (now - timedelta(minutes=spec["start_min"])).replace(second=spec["second"])
        started = min(started, now)
        run_id = f"r{next(_serial)}"
        body: dict[str, Any] = {"run_id": run_id, "started_at": iso(started)}
        run = oracle.R(connection_id=conn["id"], id=run_id, started_at=started)
        if spec["kind"] != "pending":
            completed = min(started + timedelta(minutes=spec["duration_min"]), now)
            events = spec["events"]
            typed = (
                {"evaluations": events // 3, "custom_events": events - events // 3} if spec["typed"] else None
            )
            run = oracle.R(
                connection_id=conn["id"],
                id=run_id,
                started_at=started,
                completed_at=completed,
                events_delivered=events,
                events_by_type=typed,
                batches_dlq=2 if spec["kind"] == "partial" else 0,
                error="boom" if spec["kind"] == "failed" else None,
                latency_ms=spec["latency"],
                events_pending=spec["pending"],
            )
            body.update(completed_at=iso(completed), events_delivered=events, batches_dlq=run.batches_dlq)
            for field in ("events_by_type", "error", "latency_ms", "events_pending"):
                if getattr(run, field) is not None:
                    body[field] = getattr(run, field)
        response = await client.post(tenant.connection_url(conn["id"]) + "metrics/", json=body, headers=key)
        assert response.status_code == 201, response.text
        runs.append(run)
    return runs


@PROFILE
@given(
    specs=st.lists(run_spec, max_size=14),
    now_shift=st.sampled_from([0, 0, 7 * 60 + 13, 30 * 60, 3599]),
    from_min=st.integers(0, 4 * 24 * 60),
    span_min=st.integers(1, 3 * 24 * 60),
    from_second=st.sampled_from([0, 0, 31]),
    grain=granularity,
    days=st.integers(1, 4),
    second_type=st.sampled_from(["warehouse_delivery", "metadata_sync", "webhook"]),
)
async def test_every_endpoint__random_history__equals_brute_force(
    client: httpx.AsyncClient,
    db: Database,
    clock: FrozenClock,
    service_key: dict[str, str],
    specs: list[Any],
    now_shift: int,
    from_min: int,
    span_min: int,
    from_second: int,
    grain: tuple[buckets.TimeUnit, int],
    days: int,
    second_type: str,
) -> None:
    base = clock.now.replace(hour=12, minute=0, second=0, microsecond=0)
    now = clock.now = base + timedelta(seconds=now_shift)
    tenant = await make_tenant(db, f"prop-{next(_serial)}", now)
    conns = [
        await make_connection(client, tenant, "a"),
        await make_connection(client, tenant, "b", integration_type=second_type),
    ]
    runs = await _push_history(client, tenant, service_key, conns, specs, now)
    a = (now - timedelta(minutes=from_min)).replace(second=from_second)
    b = a + timedelta(minutes=span_min)
    unit, interval = grain
    event_types = ["evaluations", "custom_events"]
    range_query = f"timestamp_from={iso(a)}&timestamp_to={iso(b)}".replace("+", "%2B")

    for conn in conns:
        mine = [r for r in runs if r.connection_id == conn["id"]]
        url = tenant.connection_url(conn["id"]) + "telemetry/metrics/"

        got = (await client.get(f"{url}?time_type=timesummary&{range_query}", headers=tenant.read)).json()
        assert got["data"] == jsonable(oracle.summary(mine, event_types, a, b, now, WINDOW, N))

        got = (await client.get(f"{url}?{range_query}", headers=tenant.read)).json()
        assert got["data"] == jsonable(oracle.latest(mine, event_types, a, b, now, WINDOW, N))

        response = await client.get(
            f"{url}?time_type=timeseries&time_unit={unit}&time_interval={interval}&{range_query}",
            headers=tenant.read,
        )
        if buckets.count(a, b, unit, interval) > buckets.MAX_BUCKETS:
            assert response.status_code == 422
        else:
            data = response.json()["data"]
            for i, bucket in enumerate(buckets.buckets(a, b, unit, interval)):
                expected = jsonable(
                    oracle.summary(mine, event_types, bucket.start, bucket.end, now, WINDOW, N)
                )
                label = jsonable(bucket.label)
                for metric in ("status", "latency", "recordsLag", "events_delivered", "runs", "failed_runs",
                               "batches_dlq", "success_rate", "last_delivery_at"):  # fmt: skip
                    assert data[metric][i] == {"timestamp": label, "value": expected[metric]}, (
                        metric,
                        bucket,
                    )
                for key, series in data["events_by_type"].items():
                    assert series[i] == {"timestamp": label, "value": expected["events_by_type"].get(key, 0)}

        # The default `latest` status is SPEC §3's, exactly what GET …/telemetry/ says.
        default = (await client.get(url, headers=tenant.read)).json()["data"]
        telemetry = (
            await client.get(tenant.connection_url(conn["id"]) + "telemetry/", headers=tenant.read)
        ).json()
        assert default["status"] == telemetry["status"] == oracle.telemetry_status(mine, now, now, WINDOW, N)
        assert default["events_delivered"] == telemetry["events_last_24h"]["total"] or any(
            r.completed_at in (now, now - oracle.DAY) for r in mine
        )

    ids = ",".join(c["id"] for c in conns)
    for time_type, expect in (("latest", oracle.latest), ("timesummary", oracle.summary)):
        body = (
            await client.get(
                f"/api/v1/telemetry/metrics/?ids={ids}&time_type={time_type}&{range_query}",
                headers=tenant.read,
            )
        ).json()
        assert body["total"] == 2
        for item in body["result"]:
            mine = [r for r in runs if r.connection_id == item["id"]]
            assert item["data"] == jsonable(expect(mine, event_types, a, b, now, WINDOW, N))

    by_type: dict[str, list[oracle.R]] = {}
    for conn in conns:
        by_type.setdefault(conn["integration_type"], []).extend(
            r for r in runs if r.connection_id == conn["id"]
        )
    got = (
        await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health?days={days}", headers=tenant.read)
    ).json()
    assert got == jsonable(oracle.health(by_type, tenant.slug, days, now, WINDOW))
