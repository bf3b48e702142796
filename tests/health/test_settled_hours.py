"""Organisation health keeps the sums of settled hours (rollups/settled.py): never a stale one.

These tests place runs around the database's own clock (the wall clock), since what may be
kept is decided by it, not by a request's ``now``: hours two or more whole hours old are
kept, reports an hour or more late say so, and everything else is read from the rollups.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from pipepulse.app import create_app
from pipepulse.clock import utc_now
from pipepulse.config import Settings
from pipepulse.db.models import Organisation
from pipepulse.db.models import Run as RunModel
from pipepulse.db.session import Database
from pipepulse.health.closed_hours import ClosedHours
from pipepulse.health.service import organisation_health
from pipepulse.rollups import settled
from pipepulse.rollups.plan import floor_hour
from pipepulse.rollups.rebuild import rebuild
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher
from tests.conftest import EXAMPLES, FrozenClock, Tenant
from tests.helpers import make_connection, push

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
TYPES = ("webhook", "metadata_sync")
# The current hour of the database's clock, when this module was loaded.
WALL = floor_hour(utc_now())


async def _health(client: httpx.AsyncClient, tenant: Tenant, days: int = 1) -> dict[str, Any]:
    url = f"/api/v1/spaces/{tenant.slug}/integration-health?days={days}"
    response = await client.get(url, headers=tenant.read)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _per_type(body: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    types = body["by_integration_type"]
    return {t["integration_type"]: (t["total"], t["success"], t["errors"]) for t in types}


@dataclass(frozen=True)
class Done:
    integration_type: str
    completed_at: datetime
    failed: bool


def _expected(runs: list[Done], now: datetime, days: int) -> dict[str, tuple[int, int, int]]:
    """Every run finished in ``(now - days, now]``, by type: the rule, run by run."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for run in runs:
        if now - timedelta(days=days) < run.completed_at <= now:
            t = totals[run.integration_type]
            t[0] += 1
            t[1 if not run.failed else 2] += 1
    return {name: (t[0], t[1], t[2]) for name, t in totals.items()}


@pytest.fixture
def runs() -> list[Done]:
    """Every run reported in this test's organisation, across the property's examples."""
    return []


REPORT = st.tuples(
    st.just("report"),
    st.integers(0, 1),  # the connection
    # Minutes from the database's current hour: its last hours, and the first hours of windows
    # of one and two days read from up to four hours before it to three after.
    st.one_of(st.integers(-8 * 60, 90), st.integers(-28 * 60, -20 * 60), st.integers(-52 * 60, -44 * 60)),
    st.booleans(),  # failed
)
READ = st.tuples(st.just("read"), st.integers(-4 * 60, 3 * 60), st.sampled_from([1, 2]))


@settings(
    max_examples=min(EXAMPLES, 60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(st.one_of(REPORT, READ), min_size=1, max_size=14))
async def test_health__reports_on_time_and_late_around_kept_hours__every_read_counts_every_run(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    runs: list[Done],
    steps: list[tuple[Any, ...]],
) -> None:
    # Fresh connections each example; the organisation's earlier ones count too (``runs``
    # keeps them across examples), so reads meet hours kept by earlier examples.
    connections = [(await make_connection(client, tenant, t, integration_type=t))["id"] for t in TYPES]
    for step in steps:
        if step[0] == "report":
            _, which, minutes, failed = step
            at = WALL + timedelta(minutes=minutes)
            clock.now = max(at, WALL) + MINUTE
            await push(
                client, tenant, connections[which], service_key, started_at=at - MINUTE, completed_at=at,
                error="boom" if failed else None,
            )  # fmt: skip
            runs.append(Done(TYPES[which], at, failed))
        else:
            _, minutes, days = step
            clock.now = WALL + timedelta(minutes=minutes, seconds=30)
            body = await _health(client, tenant, days)
            expected = _expected(runs, clock.now, days)
            assert {t: c for t, c in _per_type(body).items() if c != (0, 0, 0)} == expected
            assert body["total_events"] == sum(c[0] for c in expected.values())


async def _one_run_kept(
    client: httpx.AsyncClient, tenant: Tenant, key: dict[str, str], clock: FrozenClock, **fields: Any
) -> str:
    """A connection with one success five hours ago, read once so that its hour is kept."""
    connection: str = (await make_connection(client, tenant, **fields))["id"]
    at = WALL - 5 * HOUR + 10 * MINUTE
    clock.now = WALL
    await push(client, tenant, connection, key, started_at=at - MINUTE, completed_at=at)
    assert (await _health(client, tenant))["total_events"] == 1
    return connection


async def test_health__late_report_into_a_kept_hour__counted(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    connection = await _one_run_kept(client, tenant, service_key, clock)
    at = WALL - 5 * HOUR + 20 * MINUTE
    await push(client, tenant, connection, service_key, started_at=at - MINUTE, completed_at=at, error="late")

    body = await _health(client, tenant)
    assert (body["total_events"], body["success_count"], body["error_count"]) == (2, 1, 1)


async def test_health__connection_given_another_type__its_kept_runs_move_with_it(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    connection = await _one_run_kept(client, tenant, service_key, clock, integration_type="webhook")
    response = await client.patch(
        tenant.connection_url(connection), json={"integration_type": "metadata_sync"}, headers=tenant.write
    )
    assert response.status_code == 200, response.text

    assert _per_type(await _health(client, tenant)) == {"metadata_sync": (1, 1, 0)}


async def test_health__connection_deleted__its_kept_runs_gone(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    connection = await _one_run_kept(client, tenant, service_key, clock, integration_type="webhook")
    await make_connection(client, tenant, "stays", integration_type="webhook")
    response = await client.delete(tenant.connection_url(connection), headers=tenant.write)
    assert response.status_code == 204, response.text

    assert _per_type(await _health(client, tenant)) == {"webhook": (0, 0, 0)}


async def test_health__rollups_rebuilt_from_runs_they_missed__kept_hours_read_again(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    connection = await _one_run_kept(client, tenant, service_key, clock)
    # A run in the kept hour that the rollups never saw (as after an import of raw rows).
    at = WALL - 5 * HOUR + 30 * MINUTE
    async with db.session(write=True) as session:
        await session.execute(
            insert(RunModel).values(
                connection_id=connection, id="imported", organisation_id=tenant.id, started_at=at - MINUTE,
                completed_at=at, outcome="failed", events_delivered=0, batches_dlq=0, error="x",
                created_at=at,
            )
        )  # fmt: skip
    assert (await _health(client, tenant))["total_events"] == 1  # the rollups do not know it yet

    async with db.session(write=True) as session:
        await rebuild(session, connection)

    body = await _health(client, tenant)
    assert (body["total_events"], body["error_count"]) == (2, 1)


async def test_health__retention_rolls_up_an_orphan_of_a_kept_hour__still_counted_once(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
    settings: Settings,
) -> None:
    # Raw runs kept 3 days: an orphan that started 5 days ago is deleted by retention and
    # counted in its hour's rollup instead of from its pending row.
    short = settings.model_copy(update={"run_retention_days": 3, "rollup_retention_days": 8})
    app = create_app(short, clock=clock, database=db)
    connection = (await make_connection(client, tenant))["id"]
    clock.now = WALL
    await push(client, tenant, connection, service_key, started_at=WALL - timedelta(days=5))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pipepulse.test") as c:
        before = await _health(c, tenant, days=7)
        assert (before["total_events"], before["error_count"]) == (1, 1)

        result = await runner.tick(db, short, NoDispatcher(), clock.now)
        assert result.deleted is not None
        assert result.deleted.orphans == 1

        after = await _health(c, tenant, days=7)
    assert (after["total_events"], after["error_count"], after["last_error_at"]) == (
        1,
        1,
        before["last_error_at"][:13] + ":00:00Z",  # past raw retention, timed to its hour
    )


async def test_organisation_health__without_kept_hours__the_same_answer_as_with_them(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
    settings: Settings,
) -> None:
    # The service keeps settled hours only when handed a ClosedHours (the API and the
    # dashboard hand theirs); without one it reads every part of the window from the rollups
    # and the raw runs. At 12:30 the 30 days are five parts, with a run on each and one on the
    # window's open start; another organisation has the same runs, of the same types.
    clock.now = clock.now.replace(minute=30)
    sync = (await make_connection(client, tenant, "sync", integration_type="metadata_sync"))["id"]
    hook = (await make_connection(client, tenant, "hook", integration_type="webhook"))["id"]
    their_sync = (await make_connection(client, other_tenant, "sync", integration_type="metadata_sync"))["id"]
    their_hook = (await make_connection(client, other_tenant, "hook", integration_type="webhook"))["id"]
    theirs = {sync: their_sync, hook: their_hook}
    for connection_id, at, error in (
        (sync, datetime(2026, 3, 21, 12, 30, tzinfo=UTC), None),  # now - 30 days: not counted
        (hook, datetime(2026, 3, 21, 12, 45, tzinfo=UTC), "refused"),  # the first partial hour
        (sync, datetime(2026, 3, 21, 12, 50, tzinfo=UTC), None),
        (sync, datetime(2026, 3, 21, 13, 0, tzinfo=UTC), None),  # the first whole hour
        (sync, datetime(2026, 3, 22, 0, 0, tzinfo=UTC), "refused"),  # the first whole day
        (hook, datetime(2026, 4, 20, 0, 0, tzinfo=UTC), None),  # the hours after the days
        (sync, datetime(2026, 4, 20, 12, 10, tzinfo=UTC), None),  # the last partial hour
    ):
        for owner, connection in ((tenant, connection_id), (other_tenant, theirs[connection_id])):
            await push(
                client, owner, connection, service_key, started_at=at - MINUTE, completed_at=at, error=error
            )

    closed = ClosedHours()
    answers = []
    async with db.session() as session:
        organisation = await session.get(Organisation, tenant.id)
        assert organisation is not None
        for kept in (None, closed, closed, None):
            answer = await organisation_health(
                session, organisation, clock.now, 30, settings.thresholds, kept
            )
            answers.append(answer.model_dump(mode="json"))

    assert answers == [answers[0]] * 4
    body = answers[0]
    assert (body["total_events"], body["success_count"], body["error_count"]) == (6, 4, 2)
    assert (body["last_success_at"], body["last_error_at"]) == (
        "2026-04-20T12:10:00Z",
        "2026-03-22T00:00:00Z",
    )
    assert [
        (t["integration_type"], t["total"], t["success"], t["last_event_at"])
        for t in body["by_integration_type"]
    ] == [
        ("metadata_sync", 4, 3, "2026-04-20T12:10:00Z"),
        ("webhook", 2, 1, "2026-04-20T00:00:00Z"),
    ]
    assert (body["precision"], body["counted_from"]) == ("exact", "2026-03-21T12:30:00Z")


def test_settled__any_instant_of_an_hour__late_one_and_settled_two_whole_hours_before_it() -> None:
    hour = datetime(2026, 4, 1, 10, tzinfo=UTC)
    for clock in (hour, hour + HOUR - timedelta(microseconds=1)):
        assert settled.late_before(clock) == hour - HOUR
        assert settled.settled_before(clock) == hour - 2 * HOUR


async def test_settled__bumps_around_the_database_clock__only_hours_before_the_last_one_and_only_its_own(
    db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    # In the writing transaction, as the report paths, retention, a rebuild and the connection
    # changes call them; the database's own clock decides what is late.
    async with db.session(write=True) as session:
        version, clock = await settled.version_and_clock(session, tenant.id)
        if floor_hour(clock) + HOUR - clock < timedelta(seconds=10):  # not across an hour
            await asyncio.sleep(11)
            version, clock = await settled.version_and_clock(session, tenant.id)
        others, _ = await settled.version_and_clock(session, other_tenant.id)
        assert clock.tzinfo is UTC
        assert abs(clock - utc_now()) < MINUTE
        hour = floor_hour(clock)

        async def versions() -> tuple[int, int]:
            ours, _ = await settled.version_and_clock(session, tenant.id)
            theirs, _ = await settled.version_and_clock(session, other_tenant.id)
            return ours, theirs

        # A report for the current or the last hour leaves what is kept as it is …
        await settled.bump_if_late(session, tenant.id, hour)
        await settled.bump_if_late(session, tenant.id, hour - HOUR)
        assert await versions() == (version, others)
        # … one for an hour before them may change a kept hour.
        await settled.bump_if_late(session, tenant.id, hour - 2 * HOUR)
        late, theirs = await versions()
        assert (late > version, theirs) == (True, others)

        await settled.bump(session, [])
        assert await versions() == (late, others)
        await settled.bump(session, [tenant.id, tenant.id])
        bumped, theirs = await versions()
        assert (bumped > late, theirs) == (True, others)
