"""GET {conn}/status-history/ (SPEC §7.1) end to end, on the real database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.connections import repository as connections_repository
from pipepulse.connections.repository import ConnectionRef
from pipepulse.db.session import Database
from pipepulse.history import service as watch_service
from pipepulse.rules import Thresholds
from pipepulse.telemetry import service as telemetry_service
from tests.conftest import FrozenClock, Tenant, iso
from tests.history import oracle
from tests.history.oracle import DAY, WINDOW, Run

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def whole(value: datetime) -> str:
    """An instant as the API shows it: UTC, whole seconds, Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def create_connection(client: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> str:
    body = {"name": "Warehouse", "type": "duckdb", "state": "connected", **fields}
    response = await client.post(tenant.connections_url(), json=body, headers=tenant.write)
    assert response.status_code == 201, response.text
    connection_id: str = response.json()["id"]
    return connection_id


async def push(client: httpx.AsyncClient, url: str, key: dict[str, str], run: Run) -> None:
    body: dict[str, Any] = {"run_id": run.id, "started_at": iso(run.started_at)}
    if run.completed_at is not None:
        body.update(
            completed_at=iso(run.completed_at),
            events_delivered=run.events_delivered,
            batches_dlq=run.batches_dlq,
            error=run.error,
        )
    response = await client.post(url + "metrics/", json=body, headers=key)
    assert response.status_code == 201, response.text


def ok(i: int, at: datetime, events: int = 10) -> Run:
    return Run(id=f"ok{i}", started_at=at - timedelta(minutes=1), completed_at=at, events_delivered=events)


def failed(i: int, at: datetime, error: str = "warehouse unreachable") -> Run:
    return Run(id=f"f{i}", started_at=at - timedelta(minutes=1), completed_at=at, error=error)


@st.composite
def histories(draw: st.DrawFn) -> list[Run]:
    runs = []
    for i in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["ok", "ok", "empty", "partial", "failed", "orphan", "late", "future"]))
        at = (
            NOW
            - timedelta(minutes=15 * draw(st.integers(0, 4 * 96)))
            - draw(st.sampled_from([TICK * 0, TICK]))
        )
        if kind == "orphan":
            runs.append(Run(id=f"r{i}", started_at=at - WINDOW))
        elif kind == "late":
            runs.append(Run(id=f"r{i}", started_at=at - 3 * WINDOW, completed_at=at, events_delivered=3))
        elif kind == "future":
            # Completes a few minutes after now: not finished yet, neither pending nor orphan.
            runs.append(Run(id=f"r{i}", started_at=NOW - 2 * WINDOW, completed_at=NOW + timedelta(minutes=3)))
        else:
            runs.append(
                Run(
                    id=f"r{i}",
                    started_at=at - timedelta(minutes=5),
                    completed_at=at,
                    events_delivered=0 if kind == "empty" else draw(st.integers(0, 50)),
                    batches_dlq=2 if kind == "partial" else 0,
                    error="boom" if kind == "failed" else None,
                )
            )
    return runs


@pytest.mark.timeout(300)  # a hundred generated histories through the API, on a busy machine
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(runs=histories(), data=st.data())
async def test_status_history__random_history__intervals_follow_the_oracle_and_end_at_the_engine_status(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
    runs: list[Run],
    data: st.DataObject,
) -> None:
    clock.now = NOW
    connection_id = await create_connection(client, tenant)
    url = tenant.connection_url(connection_id)
    for run in runs:
        await push(client, url, service_key, run)
    start = NOW - timedelta(minutes=15 * data.draw(st.integers(1, 5 * 96)))

    response = await client.get(url + "status-history/", params={"from": iso(start)}, headers=tenant.read)

    assert response.status_code == 200, response.text
    body = response.json()
    # The API shows whole seconds (docs/api.md); the history itself is exact to the microsecond,
    # so the oracle is checked against the service's own intervals, and the API against them cut
    # to whole seconds.
    async with db.session() as session:
        stored = await connections_repository.get(session, tenant.id, connection_id)
        assert stored is not None
        exact = await watch_service.status_history(session, stored, start, NOW, NOW, Thresholds())
        exact_health = await watch_service.health(session, stored, NOW, Thresholds())
    intervals = [(i.status, i.start, i.end) for i in exact.intervals]
    assert [(i["status"], i["start"], i["end"]) for i in body["intervals"]] == [
        (status, whole(a), whole(b)) for status, a, b in intervals
    ]
    assert intervals[0][1] == start
    assert intervals[-1][2] == NOW
    for status, a, b in intervals:
        assert oracle.status_at(runs, a) == status
        assert oracle.status_at(runs, b - TICK) == status
    for (_, _, end), (_, begin, _) in itertools.pairwise(intervals):
        assert end == begin
        assert oracle.status_at(runs, begin) != oracle.status_at(runs, begin - TICK)
    for i in exact.intervals:
        assert i.reason.code == oracle.reason_code_at(runs, max(i.start, start))
    # At the instant now, the timeline's status is the status engine's.
    telemetry = (await client.get(url + "telemetry/", headers=tenant.read)).json()
    health = (await client.get(url + "health/", headers=tenant.read)).json()
    assert health["status"] == telemetry["status"] == oracle.status_at(runs, NOW)
    async with db.session() as session:
        connection = await connections_repository.get(session, tenant.id, connection_id)
        assert connection is not None
        engine = await telemetry_service.statuses(session, [ConnectionRef.of(connection)], NOW, Thresholds())
        now_interval = await watch_service.current(session, connection, NOW, Thresholds())
    assert now_interval.state.status == engine[connection_id].status == health["status"]
    for field in (
        "latest_finished_failing",
        "finished_runs_last_24h",
        "failing_runs_last_24h",
        "events_last_24h",
    ):
        assert getattr(now_interval.state.basis, field) == getattr(engine[connection_id].basis, field), field
    if oracle.status_at(runs, NOW - TICK) == oracle.status_at(runs, NOW):
        assert intervals[-1][0] == telemetry["status"]
    # Whole seconds each, cut off: together within a second per status of the range.
    assert (
        0
        <= (NOW - start).total_seconds() - sum(body["time_in_status"].values())
        < len(body["time_in_status"])
    )

    # Incidents whole and `since` exact, from the oracle's own changes over all time.
    changes = sorted(
        {
            c
            for r in runs
            for c in (oracle.finished_at(r), oracle.finished_at(r) + DAY)
            if c <= NOW and oracle.status_at(runs, c) != oracle.status_at(runs, c - TICK)
        }
    )
    assert exact_health.since == (changes[-1] if changes else NOW)
    assert health["since"] == whole(exact_health.since)
    edges = [*changes, NOW + TICK]
    errors = [
        (a, None if b == NOW + TICK else b)
        for a, b in itertools.pairwise(edges)
        if oracle.status_at(runs, a) == "error" and a < NOW and (b > start)
    ]
    assert [(i.started_at, i.ended_at) for i in exact.incidents] == errors
    assert [(i["started_at"], i["ended_at"]) for i in body["incidents"]] == [
        (whole(a), b and whole(b)) for a, b in errors
    ]
    # Each with the failing streak that led into it, however far back it began (SPEC §7.1).
    for i in exact.incidents:
        opener = oracle.newest_at(runs, i.started_at)
        assert opener is not None
        streak = oracle.streak_into(runs, opener)
        assert (i.streak_started_at, i.first_error_run_id) == (oracle.finished_at(streak[0]), streak[0].id)


async def test_status_history__defaults__the_last_seven_days_up_to_now(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))

    body = (await client.get(url + "status-history/", headers=tenant.read)).json()

    assert body["from"] == "2026-04-13T12:00:00Z"
    assert body["to"] == body["as_of"] == "2026-04-20T12:00:00Z"
    assert body["intervals"] == [
        {
            "status": "idle",
            "start": "2026-04-13T12:00:00Z",
            "end": "2026-04-20T12:00:00Z",
            "reason": {"code": "no_runs_yet", "text": "Nothing delivered yet: no run has finished."},
        }
    ]
    assert body["time_in_status"] == {"active": 0.0, "idle": 604800.0, "degraded": 0.0, "error": 0.0}
    assert body["uptime_percent"] == 100.0
    assert body["incidents"] == []
    assert body["mttr_seconds"] is None


async def test_status_history__incident_across_the_range__listed_whole_with_its_failing_streak(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))
    t0 = NOW - timedelta(days=3)
    history = [ok(0, t0 - timedelta(hours=1))]
    history += [failed(i, t0 + timedelta(hours=i), error=f"timeout {i}") for i in range(1, 11)]
    history += [ok(11, t0 + timedelta(hours=11))]
    for run in history:
        await push(client, url, service_key, run)

    # A range inside the incident: it began at the third failure, ended at the recovery.
    params = {"from": iso(t0 + timedelta(hours=5)), "to": iso(t0 + timedelta(hours=7))}
    body = (await client.get(url + "status-history/", params=params, headers=tenant.read)).json()

    assert [i["status"] for i in body["intervals"]] == ["error"]
    assert body["intervals"][0]["reason"]["code"] == "latest_runs_failing"
    assert body["intervals"][0]["reason"]["runs"] == ["f5", "f4", "f3"]
    assert body["uptime_percent"] == 0.0
    [incident] = body["incidents"]
    assert parse(incident["started_at"]) == t0 + timedelta(hours=3)
    assert parse(incident["ended_at"]) == t0 + timedelta(hours=11)
    assert incident["duration_seconds"] == 8 * 3600
    # The failing streak that led into it began at the first failure, two runs before.
    assert parse(incident["streak_started_at"]) == t0 + timedelta(hours=1)
    assert incident["first_error"] == "timeout 1"
    assert incident["first_error_run_id"] == "f1"
    assert incident["failing_runs"] == 10
    # It did not end inside this range: no MTTR yet.
    assert body["mttr_seconds"] is None

    whole = (
        await client.get(url + "status-history/", params={"from": iso(t0 - DAY)}, headers=tenant.read)
    ).json()
    assert [i["status"] for i in whole["intervals"]] == [
        "idle",
        "active",
        "degraded",
        "error",
        "degraded",
        "active",
        "idle",
    ]
    assert whole["mttr_seconds"] == 8 * 3600
    assert whole["time_in_status"]["error"] == 8 * 3600


async def test_status_history__open_incident__ended_at_null_duration_until_now(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))
    for i in range(3):
        await push(client, url, service_key, failed(i, NOW - timedelta(hours=3 - i)))

    params = {"from": iso(NOW - timedelta(days=1)), "to": iso(NOW - timedelta(minutes=30))}
    body = (await client.get(url + "status-history/", params=params, headers=tenant.read)).json()

    [incident] = body["incidents"]
    assert parse(incident["started_at"]) == NOW - timedelta(hours=3)
    assert incident["ended_at"] is None
    assert incident["duration_seconds"] == 3 * 3600
    assert incident["failing_runs"] == 3


async def test_status_history__failing_streak_older_than_the_runs_read__read_back_to_its_first_run(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))
    # Nothing succeeded between the two failures: one unbroken failing streak (SPEC §7.1),
    # though the first failure left the 24-hour window before the second came.
    await push(client, url, service_key, ok(0, NOW - timedelta(days=5)))
    await push(client, url, service_key, failed(1, NOW - timedelta(days=3), error="first refusal"))
    await push(client, url, service_key, failed(2, NOW - timedelta(hours=20), error="second refusal"))

    params = {"from": iso(NOW - timedelta(hours=30)), "to": iso(NOW)}
    body = (await client.get(url + "status-history/", params=params, headers=tenant.read)).json()

    [incident] = body["incidents"]
    assert parse(incident["started_at"]) == NOW - timedelta(hours=20)
    assert incident["ended_at"] is None
    assert parse(incident["streak_started_at"]) == NOW - timedelta(days=3)
    assert incident["first_error"] == "first refusal"
    assert incident["first_error_run_id"] == "f1"
    assert incident["failing_runs"] == 2


async def test_status_history__late_report__rewrites_the_orphan_out_of_history(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))
    started = NOW - timedelta(hours=2)
    await push(client, url, service_key, Run(id="slow", started_at=started))
    before = (await client.get(url + "status-history/", headers=tenant.read)).json()
    assert [i["status"] for i in before["intervals"]] == ["idle", "error"]
    assert before["incidents"][0]["first_error"] == "loader did not report back within 15 minutes"

    report = {
        "completed_at": iso(NOW - timedelta(minutes=1)),
        "events_delivered": 5,
        "batches_dlq": 0,
        "error": None,
    }
    assert (await client.patch(url + "metrics/slow/", json=report, headers=service_key)).status_code == 204

    after = (await client.get(url + "status-history/", headers=tenant.read)).json()
    assert [i["status"] for i in after["intervals"]] == ["idle", "active"]
    assert after["incidents"] == []


async def test_status_history__bad_ranges__422_saying_what_to_fix(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings, db: Database, clock: FrozenClock
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant)) + "status-history/"
    cases = {
        "must be before": {"from": iso(NOW - DAY), "to": iso(NOW - DAY)},
        "in the future": {"to": iso(NOW + timedelta(seconds=1))},
        "at most 90 days": {"from": iso(NOW - timedelta(days=90, seconds=1))},
    }
    for message, params in cases.items():
        response = await client.get(url, params=params, headers=tenant.read)
        assert response.status_code == 422, params
        assert message in response.json()["detail"][0]["msg"]
    garbled = await client.get(url, params={"from": "yesterday"}, headers=tenant.read)
    assert garbled.status_code == 422
    # 90 days is the longest range; with the default 90 days of raw runs kept its first day
    # would need runs already deleted (see the retention tests), so keep them longer here.
    longer = create_app(settings.model_copy(update={"run_retention_days": 100}), clock=clock, database=db)
    transport = httpx.ASGITransport(app=longer)
    async with httpx.AsyncClient(transport=transport, base_url="http://pipepulse.test") as keeping:
        exactly_90 = await keeping.get(
            url, params={"from": iso(NOW - timedelta(days=90))}, headers=tenant.read
        )
    assert exactly_90.status_code == 200, exactly_90.text


async def test_status_history__paused_connection__current_interval_says_paused(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant, state="paused"))
    await push(client, url, service_key, ok(0, NOW - timedelta(hours=1)))

    body = (await client.get(url + "status-history/", headers=tenant.read)).json()

    assert body["intervals"][-1]["status"] == "active"
    assert body["intervals"][-1]["reason"]["code"] == "paused"
    assert body["intervals"][-1]["reason"]["text"].startswith("Paused: no runs are scheduled.")


async def test_status_history__streak_through_a_partial_run__read_back_to_its_first_run(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    url = tenant.connection_url(await create_connection(client, tenant))
    other = tenant.connection_url(await create_connection(client, tenant, name="Other warehouse"))
    # A partial run (dead-lettered batches, no error) is failing too: the streak that leads into
    # the incident is unbroken from the first failure, whatever another connection did meanwhile.
    await push(client, url, service_key, ok(0, NOW - timedelta(days=5)))
    await push(client, url, service_key, failed(1, NOW - timedelta(days=4), error="first refusal"))
    partial = NOW - timedelta(days=3)
    await push(
        client,
        url,
        service_key,
        Run(id="p", started_at=partial - timedelta(minutes=1), completed_at=partial, batches_dlq=1),
    )
    await push(client, url, service_key, failed(2, NOW - timedelta(hours=20), error="second refusal"))
    await push(client, other, service_key, ok(9, NOW - timedelta(days=3, hours=12)))

    params = {"from": iso(NOW - timedelta(hours=30)), "to": iso(NOW)}
    body = (await client.get(url + "status-history/", params=params, headers=tenant.read)).json()

    # The second failure opens the incident, after two days without runs: its streak goes back
    # through the partial run, older than the runs read for the range, to the first failure.
    incidents = [
        (
            i["started_at"],
            i["ended_at"],
            i["streak_started_at"],
            i["first_error"],
            i["first_error_run_id"],
            i["failing_runs"],
        )
        for i in body["incidents"]
    ]
    assert incidents == [
        ("2026-04-19T16:00:00Z", None, "2026-04-16T12:00:00Z", "first refusal", "f1", 3),
    ]


async def test_status_history__idle_after_older_deliveries__reason_names_the_last_delivery_before_the_range(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    # Read for a range from a day ago: nothing finished in the day before it, so it starts idle,
    # and the reason names this connection's last run that delivered events, at or before then.
    start = NOW - DAY
    # The first interval is judged a microsecond before the range (to tell whether it began
    # before it), so the runs read finish after start - 24 h - 2 µs: a delivery on that instant
    # is known only from the last-delivery probe, one a microsecond later from the runs read.
    before = start - DAY - 2 * TICK
    url = tenant.connection_url(await create_connection(client, tenant))
    other = tenant.connection_url(await create_connection(client, tenant, name="Other warehouse"))
    edge = tenant.connection_url(await create_connection(client, tenant, name="Edge warehouse"))
    read = tenant.connection_url(await create_connection(client, tenant, name="Read warehouse"))
    await push(client, url, service_key, ok(0, NOW - timedelta(days=5), events=10))
    await push(client, url, service_key, ok(1, NOW - timedelta(days=4), events=0))  # delivered nothing
    await push(client, other, service_key, ok(9, NOW - timedelta(days=3), events=10))
    await push(client, url, service_key, ok(2, NOW - timedelta(hours=2), events=5))  # in the range
    await push(client, edge, service_key, ok(0, before, events=1))
    await push(client, read, service_key, ok(0, before + TICK, events=1))

    reasons = {}
    for name, connection_url in (("url", url), ("edge", edge), ("read", read)):
        body = (
            await client.get(
                connection_url + "status-history/", params={"from": iso(start)}, headers=tenant.read
            )
        ).json()
        reasons[name] = body["intervals"][0]["reason"]["text"]
    said = "No run finished in the last 24 hours; the last delivery was at "
    assert reasons == {
        "url": said + "2026-04-15 12:00:00 UTC.",
        "edge": said + "2026-04-18 11:59:59 UTC.",
        "read": said + "2026-04-18 11:59:59 UTC.",
    }


async def test_status_history__streak_reaching_the_first_run_read__read_back_only_as_far_as_it_goes(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    # Each connection's failure at 16:00 yesterday opens an incident in the range; the runs read
    # for the range begin with it, so what came before is read back: a success before it ends
    # the streak there, a failure a microsecond after that success begins it, and with no
    # success ever the streak begins with the connection's first finished run (an orphan too).
    long_ago = NOW - timedelta(days=3)
    failure = NOW - timedelta(hours=20)
    urls = {}
    for name in ("after_success", "micro", "no_success", "orphan_first"):
        urls[name] = tenant.connection_url(await create_connection(client, tenant, name=name))
    await push(client, urls["after_success"], service_key, ok(0, long_ago))
    await push(client, urls["micro"], service_key, ok(0, long_ago))
    await push(client, urls["micro"], service_key, failed(0, long_ago + TICK, error="refused just after"))
    await push(client, urls["no_success"], service_key, failed(0, long_ago, error="refused from the start"))
    await push(client, urls["orphan_first"], service_key, Run(id="o0", started_at=long_ago - WINDOW))
    for url in urls.values():
        await push(client, url, service_key, failed(1, failure, error="refused"))

    params = {"from": iso(NOW - timedelta(hours=30)), "to": iso(NOW)}
    found = {}
    for name, url in urls.items():
        body = (await client.get(url + "status-history/", params=params, headers=tenant.read)).json()
        found[name] = [
            (i["started_at"], i["streak_started_at"], i["first_error_run_id"], i["failing_runs"])
            for i in body["incidents"]
        ]

    yesterday, three_days_ago = "2026-04-19T16:00:00Z", "2026-04-17T12:00:00Z"
    assert found == {
        "after_success": [(yesterday, yesterday, "f1", 1)],
        "micro": [(yesterday, three_days_ago, "f0", 2)],
        "no_success": [(yesterday, three_days_ago, "f0", 2)],
        "orphan_first": [(yesterday, three_days_ago, "o0", 2)],
    }


async def test_status_history__first_run_finished_in_the_range__starts_saying_no_run_has_finished(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    # Neither connection had a run finished before the range: one's first run, a two-day
    # backfill, started long before it; the other's organisation has an old orphan elsewhere.
    start = NOW - DAY
    backfill = tenant.connection_url(await create_connection(client, tenant, name="Backfill"))
    fresh = tenant.connection_url(await create_connection(client, tenant, name="Fresh"))
    elsewhere = tenant.connection_url(await create_connection(client, tenant, name="Elsewhere"))
    await push(client, elsewhere, service_key, Run(id="lost", started_at=NOW - timedelta(days=3)))
    long_run = Run(
        id="b0", started_at=NOW - timedelta(days=3), completed_at=NOW - timedelta(hours=2), events_delivered=5
    )
    await push(client, backfill, service_key, long_run)
    await push(client, fresh, service_key, ok(0, NOW - timedelta(hours=2)))

    firsts = {}
    for name, url in (("backfill", backfill), ("fresh", fresh)):
        body = (
            await client.get(url + "status-history/", params={"from": iso(start)}, headers=tenant.read)
        ).json()
        first = body["intervals"][0]
        firsts[name] = (first["status"], first["end"], first["reason"]["text"])

    said = ("idle", "2026-04-20T10:00:00Z", "Nothing delivered yet: no run has finished.")
    assert firsts == {"backfill": said, "fresh": said}


async def incident_counts(client: httpx.AsyncClient, tenant: Tenant, url: str, start: datetime) -> list[Any]:
    """Each incident of the history from ``start`` to now: (started_at, its failing runs)."""
    response = await client.get(url + "status-history/", params={"from": iso(start)}, headers=tenant.read)
    assert response.status_code == 200, response.text
    return [(i["started_at"], i["failing_runs"]) for i in response.json()["incidents"]]


async def five_failures_after_a_success(
    client: httpx.AsyncClient, url: str, service_key: dict[str, str]
) -> datetime:
    """A success, then failures a minute apart from two hours before now (an incident opening
    with the third at t0 + 3 min); returns t0."""
    t0 = NOW - timedelta(hours=2)
    await push(client, url, service_key, ok(0, t0 - timedelta(hours=1)))
    for i in range(1, 6):
        await push(client, url, service_key, failed(i, t0 + timedelta(minutes=i)))
    return t0


async def test_status_history__incident_ending_with_an_orphan__failing_runs_count_every_run_of_its_streak(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    # Five failures a minute apart, then a run that never reported back, orphaned three minutes
    # after the incident opened: the fourth and fifth failures are of the same kind as both
    # neighbours and are not read one by one, and the runs read around the incident's opening
    # must not take in the orphan (finished after them) and count it without them.
    url = tenant.connection_url(await create_connection(client, tenant))
    t0 = await five_failures_after_a_success(client, url, service_key)
    await push(client, url, service_key, Run(id="lost", started_at=t0 + timedelta(minutes=6) - WINDOW))

    found = await incident_counts(client, tenant, url, NOW - timedelta(days=2))

    assert found == [(whole(t0 + timedelta(minutes=3)), 6)]


async def test_status_history__failing_run_just_over_a_day_before_from__not_counted_in_a_later_incident(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    # The history from `from` rests on the runs finished in the day before it (and a microsecond
    # more): a failure two microseconds beyond that is not among them, and counting it in some
    # runs read and not in others would miscount an incident of the range.
    url = tenant.connection_url(await create_connection(client, tenant))
    start = NOW - timedelta(days=2)
    await push(client, url, service_key, failed(0, start - DAY - 2 * TICK, error="long ago"))
    t0 = await five_failures_after_a_success(client, url, service_key)

    found = await incident_counts(client, tenant, url, start)

    assert found == [(whole(t0 + timedelta(minutes=3)), 5)]


async def test_status_history__orphan_finished_days_before_from__not_counted_in_a_later_incident(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str]
) -> None:
    # An orphan is read by its finished time like any run: one that finished days before the
    # range is not among the runs the range's history rests on, however long ago it started.
    url = tenant.connection_url(await create_connection(client, tenant))
    start = NOW - timedelta(days=2)
    await push(client, url, service_key, Run(id="lost", started_at=start - timedelta(days=3)))
    t0 = await five_failures_after_a_success(client, url, service_key)

    found = await incident_counts(client, tenant, url, start)

    assert found == [(whole(t0 + timedelta(minutes=3)), 5)]
