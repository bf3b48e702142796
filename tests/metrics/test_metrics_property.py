"""Random histories through the API: every endpoint's numbers equal a brute-force oracle.

A history is a timeline the way production sees one: finished runs pushed (in any order,
hours or days after they ran), runs seeded and reported later — often after their orphan
window, sometimes after a scheduler tick has already stored them as orphaned — scheduler
ticks that seed runs of their own, and event types changed on a connection that already has
runs. The oracles (tests/metrics/oracle.py, tests/telemetry/oracle.py) import nothing from
pipepulse: their own status rule, bucket loop and JSON formatting.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher
from tests.conftest import FrozenClock, Tenant, iso, make_tenant, property_timeout
from tests.helpers import make_connection
from tests.metrics import oracle
from tests.telemetry import oracle as spec_oracle

WINDOW = timedelta(minutes=15)
N = 3
MAX_BUCKETS = 10_000
_serial = itertools.count()

TYPE_LISTS = [
    ["evaluations", "custom_events"],
    ["evaluations"],
    ["custom_events", "clicks"],
    ["clicks"],
]
report_spec = {
    "kind": st.sampled_from(["succeeded", "succeeded", "partial", "failed"]),
    "events": st.integers(0, 40),
    "typed": st.booleans(),
    "latency": st.one_of(st.none(), st.integers(0, 5000)),
    "pending": st.one_of(st.none(), st.integers(0, 90)),
}
step = st.one_of(
    # A finished run pushed in one call, that ran up to three days before this moment.
    st.fixed_dictionaries(
        {
            "do": st.just("push"),
            "back_min": st.integers(0, 3 * 24 * 60),
            "duration_min": st.sampled_from([0, 1, 5, 20, 60]),
            **report_spec,
        }
    ),
    st.fixed_dictionaries({"do": st.just("seed"), "back_min": st.sampled_from([0, 2, 14, 15, 40])}),
    # A report for one of the runs still pending in the service's eyes: late ones on purpose.
    st.fixed_dictionaries(
        {
            "do": st.just("report"),
            "pick": st.integers(0, 5),
            "back_min": st.sampled_from([0, 0, 5, 30]),
            **report_spec,
        }
    ),
    # Ticks twice as often: they seed runs and store orphans that later reports find.
    st.fixed_dictionaries({"do": st.just("tick")}),
    st.fixed_dictionaries({"do": st.just("tick")}),
    st.fixed_dictionaries({"do": st.just("types"), "types": st.sampled_from(TYPE_LISTS)}),
)
timeline = st.lists(
    st.tuples(
        st.integers(0, 1),  # which connection
        st.sampled_from([0, 0, 1, 7, 16, 45, 120, 600]),  # minutes since the previous step
        st.sampled_from([0, 0, 17, 59]),  # seconds
        step,
    ),
    max_size=16,
)
granularity = st.sampled_from(
    [("minute", 30), ("minute", 7), ("hour", 1), ("hour", 5), ("day", 1), ("week", 1), ("week", 2),
     ("month", 1), ("month", 3)]
)  # fmt: skip
PROFILE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class History:
    """Plays a timeline through the API and keeps the oracle's copy of every run."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        tenant: Tenant,
        key: dict[str, str],
        conns: list[dict[str, Any]],
        clock: FrozenClock,
        db: Database,
        settings: Settings,
    ) -> None:
        self.client, self.tenant, self.key, self.conns = client, tenant, key, conns
        self.clock, self.db, self.settings = clock, db, settings
        self.runs: dict[str, oracle.R] = {}
        self.types = {c["id"]: list(c["event_types"]) for c in conns}
        self.stored_orphans: set[str] = set()

    def runs_url(self, conn: dict[str, Any]) -> str:
        return self.tenant.connection_url(conn["id"]) + "metrics/"

    def report_body(
        self, conn: dict[str, Any], spec: dict[str, Any], completed: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A report with the connection's event types of this moment: (JSON body, oracle fields)."""
        events = spec["events"]
        typed = None
        if spec["typed"]:
            first, *rest = self.types[conn["id"]]
            typed = {first: events // 3, rest[0]: events - events // 3} if rest else {first: events}
        fields = {
            "completed_at": completed,
            "events_delivered": events,
            "events_by_type": typed,
            "batches_dlq": 2 if spec["kind"] == "partial" else 0,
            "error": "boom" if spec["kind"] == "failed" else None,
            "latency_ms": spec["latency"],
            "events_pending": spec["pending"],
        }
        body = {k: (iso(v) if isinstance(v, datetime) else v) for k, v in fields.items() if v is not None}
        return body, fields

    async def play(self, conn: dict[str, Any], spec: dict[str, Any]) -> None:
        now = self.clock.now
        if spec["do"] == "push":
            started = now - timedelta(minutes=spec["back_min"])
            completed = min(started + timedelta(minutes=spec["duration_min"]), now)
            body, fields = self.report_body(conn, spec, completed)
            run_id = f"r{next(_serial)}"
            response = await self.client.post(
                self.runs_url(conn),
                json={"run_id": run_id, "started_at": iso(started), **body},
                headers=self.key,
            )
            assert response.status_code == 201, response.text
            self.runs[run_id] = oracle.R(conn["id"], run_id, started, **fields)
        elif spec["do"] == "seed":
            run_id = f"r{next(_serial)}"
            started = now - timedelta(minutes=spec["back_min"])
            response = await self.client.post(
                self.runs_url(conn), json={"run_id": run_id, "started_at": iso(started)}, headers=self.key
            )
            assert response.status_code == 201, response.text
            self.runs[run_id] = oracle.R(conn["id"], run_id, started)
        elif spec["do"] == "report":
            pending = [
                r for r in self.runs.values() if r.connection_id == conn["id"] and r.completed_at is None
            ]
            if not pending:
                return
            run = pending[spec["pick"] % len(pending)]
            # Labels for --hypothesis-show-statistics: how often the hard cases come up.
            if run.id in self.stored_orphans:
                event("late report for a run a tick stored as orphaned")
            elif run.started_at + WINDOW <= now:
                event("late report after the orphan window")
            completed = max(run.started_at, now - timedelta(minutes=spec["back_min"]))
            body, fields = self.report_body(conn, spec, completed)
            response = await self.client.patch(f"{self.runs_url(conn)}{run.id}/", json=body, headers=self.key)
            assert response.status_code == 204, response.text
            self.runs[run.id] = oracle.R(conn["id"], run.id, run.started_at, **fields)
        elif spec["do"] == "tick":
            await runner.tick(self.db, self.settings, NoDispatcher(), now)
            self.stored_orphans |= {
                r.id for r in self.runs.values() if r.completed_at is None and r.started_at + WINDOW <= now
            }
            for c in self.conns:
                listed = await self.client.get(
                    self.runs_url(c), params={"size": 500}, headers=self.tenant.read
                )
                for item in listed.json()["items"]:
                    if item["id"] not in self.runs:
                        self.runs[item["id"]] = oracle.R(c["id"], item["id"], _parse(item["started_at"]))
        else:
            response = await self.client.patch(
                self.tenant.connection_url(conn["id"]),
                json={"event_types": spec["types"]},
                headers=self.tenant.write,
            )
            assert response.status_code == 200, response.text
            if self.of(conn["id"]) and spec["types"] != self.types[conn["id"]]:
                event("event types changed on a connection with runs")
            self.types[conn["id"]] = list(spec["types"])

    def of(self, connection_id: str) -> list[oracle.R]:
        return [r for r in self.runs.values() if r.connection_id == connection_id]


def _spec_run(run: oracle.R) -> spec_oracle.RawRun:
    return spec_oracle.RawRun(
        id=run.id,
        started_at=run.started_at,
        completed_at=run.completed_at,
        events_delivered=run.events_delivered,
        events_by_type=run.events_by_type,
        batches_dlq=run.batches_dlq,
        error=run.error,
    )


@property_timeout(seconds_per_example=2.5)
@PROFILE
@given(
    steps=timeline,
    now_shift=st.sampled_from([0, 0, 7 * 60 + 13, 30 * 60, 3599]),
    from_min=st.integers(0, 4 * 24 * 60),
    span_min=st.integers(1, 3 * 24 * 60),
    from_second=st.sampled_from([0, 0, 31]),
    grain=granularity,
    days=st.integers(1, 4),
    second_type=st.sampled_from(["warehouse_delivery", "metadata_sync", "webhook"]),
)
async def test_every_endpoint__random_timeline__equals_brute_force(
    client: httpx.AsyncClient,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    service_key: dict[str, str],
    steps: list[tuple[int, int, int, dict[str, Any]]],
    now_shift: int,
    from_min: int,
    span_min: int,
    from_second: int,
    grain: tuple[str, int],
    days: int,
    second_type: str,
) -> None:
    base = clock.now.replace(hour=12, minute=0, second=0, microsecond=0)
    clock.now = base - timedelta(days=2)
    tenant = await make_tenant(db, f"prop-{next(_serial)}", clock.now)
    conns = [
        await make_connection(client, tenant, "a"),
        await make_connection(client, tenant, "b", integration_type=second_type),
    ]
    history = History(client, tenant, service_key, conns, clock, db, settings)
    for slot, gap_min, second, spec in steps:
        clock.now = (clock.now + timedelta(minutes=gap_min)).replace(second=second)
        await history.play(conns[slot], spec)
    now = clock.now = clock.now + timedelta(seconds=now_shift)

    a = (now - timedelta(minutes=from_min)).replace(second=from_second)
    b = a + timedelta(minutes=span_min)
    unit, interval = grain
    range_query = f"timestamp_from={iso(a)}&timestamp_to={iso(b)}"
    metric_names = set(oracle.METRICS)

    for conn in conns:
        mine = history.of(conn["id"])
        types = history.types[conn["id"]]
        url = tenant.connection_url(conn["id"]) + "telemetry/metrics/"

        got = (await client.get(f"{url}?time_type=timesummary&{range_query}", headers=tenant.read)).json()
        assert got["data"] == oracle.to_json(oracle.summary(mine, types, a, b, now, WINDOW, N))

        got = (await client.get(f"{url}?{range_query}", headers=tenant.read)).json()
        assert got["data"] == oracle.to_json(oracle.latest(mine, types, a, b, now, WINDOW, N))

        response = await client.get(
            f"{url}?time_type=timeseries&time_unit={unit}&time_interval={interval}&{range_query}",
            headers=tenant.read,
        )
        slots = oracle.buckets(a, b, unit, interval)
        if len(slots) > MAX_BUCKETS:
            assert response.status_code == 422, response.text
        else:
            data = response.json()["data"]
            expected = oracle.to_json(oracle.timeseries(mine, types, slots, now, WINDOW, N))
            # The exact key set and one point per bucket in every series, then every value.
            assert set(data) == metric_names
            assert all(len(data[m]) == len(slots) for m in oracle.SCALARS)
            assert set(data["events_by_type"]) == set(expected["events_by_type"])
            assert all(len(s) == len(slots) for s in data["events_by_type"].values())
            assert data == expected

        # The default answer is `latest` over the last 24 hours, [now - 24h, now) ...
        default = (await client.get(url, headers=tenant.read)).json()["data"]
        assert default == oracle.to_json(oracle.latest(mine, types, now - oracle.DAY, now, now, WINDOW, N))
        # ... and its status is SPEC §3's, exactly what GET …/telemetry/ says.
        telemetry = (
            await client.get(tenant.connection_url(conn["id"]) + "telemetry/", headers=tenant.read)
        ).json()
        assert telemetry == spec_oracle.to_json(
            spec_oracle.telemetry([_spec_run(r) for r in mine], types, now)
        )
        assert default["status"] == telemetry["status"]

    ids = ",".join(c["id"] for c in conns)
    for time_type, expect in (("latest", oracle.latest), ("timesummary", oracle.summary)):
        body = (
            await client.get(
                f"/api/v1/telemetry/metrics/?ids={ids}&time_type={time_type}&{range_query}",
                headers=tenant.read,
            )
        ).json()
        assert body["total"] == 2
        assert sorted(item["id"] for item in body["result"]) == sorted(c["id"] for c in conns)
        for item in body["result"]:
            mine = history.of(item["id"])
            types = history.types[item["id"]]
            assert item["data"] == oracle.to_json(expect(mine, types, a, b, now, WINDOW, N))

    by_type: dict[str, list[oracle.R]] = {}
    for conn in conns:
        by_type.setdefault(conn["integration_type"], []).extend(history.of(conn["id"]))
    got = (
        await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health?days={days}", headers=tenant.read)
    ).json()
    assert got == oracle.to_json(oracle.health(by_type, tenant.slug, days, now, WINDOW))
