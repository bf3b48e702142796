"""A timeseries' raw runs summed per bucket by the database equal the same runs read and added
one by one in Python (the path every timeseries took before, and SQLite's still).

Runs are pushed through the API with ``completed_at`` on a bucket's edge, a microsecond
either side of it, or a second before it, so a run counted in the wrong bucket, twice or not
at all shows. Durations carry odd microseconds (the latency of a run without ``latency_ms``
is its duration, rounded as Python rounds it), breakdowns are present or absent, and lag
values tie on the same instant (the larger one is kept).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from pipepulse.db.session import Database
from pipepulse.metrics import buckets
from pipepulse.metrics import repository as repo
from pipepulse.rollups import plan as planner
from tests.conftest import FrozenClock, Tenant, iso, property_timeout
from tests.helpers import make_connection
from tests.metrics.test_metrics_property import PROFILE, _serial

TICK = timedelta(microseconds=1)
# Ten buckets of each end before the clock's now: runs cannot complete in the future.
GRAINS: list[tuple[buckets.TimeUnit, int]] = [
    ("minute", 15),
    ("minute", 7),
    ("hour", 1),
    ("hour", 5),
    ("hour", 6),
]

run_spec = st.fixed_dictionaries(
    {
        "edge": st.integers(0, 12),  # which bucket edge of the range
        "nudge": st.sampled_from([-timedelta(seconds=1), -TICK, timedelta(0), timedelta(0), TICK]),
        "duration_us": st.integers(0, 3 * 3600 * 10**6),
        "kind": st.sampled_from(["succeeded", "succeeded", "partial", "failed"]),
        "events": st.integers(0, 40),
        "typed": st.sampled_from([None, "one", "two"]),
        "latency": st.one_of(st.none(), st.integers(0, 5000)),
        "pending": st.one_of(st.none(), st.integers(0, 3)),
    }
)


def _report(spec: dict[str, Any], started: datetime, completed: datetime) -> dict[str, Any]:
    events = spec["events"]
    typed = {
        None: None,
        "one": {"evaluations": events},
        "two": {"evaluations": events // 3, "clicks": events - events // 3},
    }[spec["typed"]]
    body = {
        "started_at": iso(started),
        "completed_at": iso(completed),
        "events_delivered": events,
        "events_by_type": typed,
        "batches_dlq": 2 if spec["kind"] == "partial" else 0,
        "error": "boom" if spec["kind"] == "failed" else None,
        "latency_ms": spec["latency"],
        "events_pending": spec["pending"],
    }
    return {k: v for k, v in body.items() if v is not None}


@property_timeout(2.0)
@PROFILE
@given(
    runs=st.lists(run_spec, max_size=14),
    grain=st.sampled_from(GRAINS),
    from_offset_s=st.sampled_from([0, 1, 7 * 60, 3600 + 13]),
    whole_range=st.booleans(),
)
async def test_bucket_sums__runs_on_bucket_edges__database_equals_python(
    client: httpx.AsyncClient,
    db: Database,
    clock: FrozenClock,
    tenant: Tenant,
    service_key: dict[str, str],
    runs: list[dict[str, Any]],
    grain: tuple[buckets.TimeUnit, int],
    from_offset_s: int,
    whole_range: bool,
) -> None:
    unit, interval = grain
    conn = await make_connection(
        client, tenant, f"edges-{next(_serial)}", event_types=["evaluations", "clicks"]
    )
    start = clock.now - timedelta(days=4) + timedelta(seconds=from_offset_s)
    end = buckets.next_slot(buckets.slot_start(start, unit, interval), unit, interval * 10) - TICK
    bucket_list = buckets.buckets(start, end, unit, interval)
    edges = [b.start for b in bucket_list] + [end]
    for n, spec in enumerate(runs):
        completed = edges[spec["edge"] % len(edges)] + spec["nudge"]
        started = completed - timedelta(microseconds=spec["duration_us"])
        response = await client.post(
            tenant.connection_url(conn["id"]) + "metrics/",
            json={"run_id": f"e{n}", **_report(spec, started, completed)},
            headers=service_key,
        )
        assert response.status_code == 201, response.text

    starts = [b.start for b in bucket_list]
    # The raw parts a timeseries reads (edge hours and sub-hour buckets), or the whole range.
    ranges = [(start, end)] if whole_range else planner.split([(b.start, b.end) for b in bucket_list]).raw
    async with db.session() as session:
        summed = await repo.bucket_sums(session, conn["id"], starts, ranges)
        one_by_one = await repo.bucket_sums_in_python(session, conn["id"], starts, ranges)
    assert summed == one_by_one
