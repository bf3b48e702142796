"""Organisation integration health (SPEC §4.4) by id and by slug."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.models import Run
from pipepulse.db.session import Database
from pipepulse.rollups.rebuild import rebuild
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher
from tests.conftest import FrozenClock, Tenant
from tests.helpers import make_connection, push


async def test_health__by_id_and_by_slug__reference_shape(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    sync = await make_connection(client, tenant, "sync", integration_type="metadata_sync")
    checks = await make_connection(client, tenant, "checks", integration_type="quality_check")
    await make_connection(client, tenant, "idle", integration_type="webhook")
    t = clock.now - timedelta(days=3)
    await push(client, tenant, sync["id"], service_key, started_at=t, completed_at=t + timedelta(minutes=1))
    await push(client, tenant, checks["id"], service_key, started_at=t, completed_at=t, batches_dlq=1)
    await push(client, tenant, checks["id"], service_key, started_at=clock.now - timedelta(minutes=20))
    old = clock.now - timedelta(days=31)
    await push(client, tenant, sync["id"], service_key, started_at=old, completed_at=old)
    by_id = await client.get(f"/api/v1/organisations/{tenant.id}/integration-health/", headers=tenant.read)
    by_slug = await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health", headers=tenant.read)
    assert by_id.json() == by_slug.json() == {
        "space_id": "acme",
        "period_days": 30,
        "total_events": 3,
        "success_count": 1,
        "error_count": 2,
        "success_rate": 33.3,
        "last_success_at": "2026-04-17T12:01:00Z",
        "last_error_at": "2026-04-20T11:55:00Z",
        "by_integration_type": [
            {"integration_type": "metadata_sync", "total": 1, "success": 1, "errors": 0,
             "last_event_at": "2026-04-17T12:01:00Z"},
            {"integration_type": "quality_check", "total": 2, "success": 0, "errors": 2,
             "last_event_at": "2026-04-20T11:55:00Z"},
            {"integration_type": "webhook", "total": 0, "success": 0, "errors": 0, "last_event_at": None},
        ],
        "precision": "exact",
        "counted_from": "2026-03-21T12:00:00Z",
    }  # fmt: skip
    two_days = await client.get(
        f"/api/v1/spaces/{tenant.slug}/integration-health?days=2", headers=tenant.read
    )
    assert two_days.json()["total_events"] == 1


async def test_health__no_runs__zeroes_and_null_rate(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = (await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health", headers=tenant.read)).json()
    assert body["total_events"] == 0
    assert body["success_rate"] is None
    assert body["by_integration_type"] == []


@pytest.mark.parametrize("days", ["0", "366", "-1", "x"])
async def test_health__days_out_of_range__422(client: httpx.AsyncClient, tenant: Tenant, days: str) -> None:
    response = await client.get(
        f"/api/v1/spaces/{tenant.slug}/integration-health?days={days}", headers=tenant.read
    )
    assert response.status_code == 422


async def test_health__other_organisation__404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    assert (
        await client.get(f"/api/v1/spaces/{other_tenant.slug}/integration-health", headers=tenant.read)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/organisations/{other_tenant.id}/integration-health/", headers=tenant.read)
    ).status_code == 404
    # A slug that cannot exist is malformed input, not a missing organisation.
    malformed = await client.get("/api/v1/spaces/NOPE/integration-health", headers=tenant.read)
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["path", "slug"]
    missing = await client.get("/api/v1/spaces/nope/integration-health", headers=tenant.read)
    assert (missing.status_code, missing.json()) == (404, {"detail": "organisation not found"})


async def test_health__runs_past_run_and_hourly_retention__counted_from_the_daily_rollups(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
    settings: Settings,
) -> None:
    # Raw runs and hourly rollups kept 8 days: a year's health of a run 100 days ago can only
    # come from its day's rollup (operations.md: daily rollups outlive both).
    short = settings.model_copy(update={"run_retention_days": 8, "rollup_retention_days": 8})
    sync = await make_connection(client, tenant, "sync", integration_type="metadata_sync", state="paused")
    old = clock.now - timedelta(days=100)
    await push(client, tenant, sync["id"], service_key, started_at=old, completed_at=old, events_delivered=2)
    await push(client, tenant, sync["id"], service_key, started_at=old, completed_at=old, error="refused")
    result = await runner.tick(db, short, NoDispatcher(), clock.now)
    assert result.deleted is not None
    assert (result.deleted.counts()["runs"], result.deleted.counts()["hourly_rollups"]) == (2, 1)

    app = create_app(short, clock=clock, database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://pipepulse.test"
    ) as c:
        body = (
            await c.get(f"/api/v1/spaces/{tenant.slug}/integration-health?days=365", headers=tenant.read)
        ).json()

    assert (body["total_events"], body["success_count"], body["error_count"]) == (2, 1, 1)
    assert body["precision"] == "day"
    assert (body["last_success_at"], body["last_error_at"]) == (
        "2026-01-10T12:00:00Z",
        "2026-01-10T12:00:00Z",
    )
    [sync_type] = [t for t in body["by_integration_type"] if t["integration_type"] == "metadata_sync"]
    assert (sync_type["total"], sync_type["last_event_at"]) == (2, "2026-01-10T12:00:00Z")


async def test_health__report_from_a_clock_ahead__latest_times_from_the_rollups_past_raw_retention(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
    settings: Settings,
) -> None:
    # Raw runs kept 3 days, hourly rollups 8: a success 100 days ago is left in its day's
    # rollup only, a failure 5 days ago in its hour's. A report from a loader whose clock runs
    # 4 minutes ahead puts the connection's kept latest times past the window, so the health
    # answer looks them up in what is left of its runs: the rollups.
    short = settings.model_copy(update={"run_retention_days": 3, "rollup_retention_days": 8})
    sync = await make_connection(client, tenant, "sync", integration_type="metadata_sync", state="paused")
    old = clock.now - timedelta(days=100, minutes=30)
    recent = clock.now - timedelta(days=5, minutes=30)
    await push(client, tenant, sync["id"], service_key, started_at=old, completed_at=old, events_delivered=2)
    await push(
        client, tenant, sync["id"], service_key, started_at=recent, completed_at=recent, error="refused"
    )
    result = await runner.tick(db, short, NoDispatcher(), clock.now)
    assert result.deleted is not None
    assert result.deleted.counts()["runs"] == 2
    ahead = clock.now + timedelta(minutes=4)
    await push(client, tenant, sync["id"], service_key, started_at=ahead, completed_at=ahead)

    app = create_app(short, clock=clock, database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://pipepulse.test"
    ) as c:
        body = (
            await c.get(f"/api/v1/spaces/{tenant.slug}/integration-health?days=365", headers=tenant.read)
        ).json()

    assert (body["total_events"], body["success_count"], body["error_count"]) == (2, 1, 1)
    # Counted from the start of the day the window starts in (inclusive).
    assert (body["precision"], body["counted_from"]) == ("day", "2025-04-20T00:00:00Z")
    # The success to its day, the failure to its hour.
    assert (body["last_success_at"], body["last_error_at"]) == (
        "2026-01-10T00:00:00Z",
        "2026-04-15T11:00:00Z",
    )
    [sync_type] = [t for t in body["by_integration_type"] if t["integration_type"] == "metadata_sync"]
    assert (sync_type["total"], sync_type["last_event_at"]) == (2, "2026-04-15T11:00:00Z")


async def test_health__clock_inside_a_second__counted_from_now_minus_days_to_the_second(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    # The window (now - days, now] is exact: it is shown from now - days, cut to the second
    # as every timestamp is, not from the first microsecond counted (a second later here).
    clock.now = clock.now.replace(microsecond=999_999)
    body = (await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health", headers=tenant.read)).json()
    assert (body["precision"], body["counted_from"]) == ("exact", "2026-03-21T12:00:00Z")


async def test_health__clock_ahead_connection_with_runs_in_the_window__latest_times_from_those_runs(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    # A loader whose clock runs ahead reports a run completed a microsecond after now, so its
    # connection's kept latest times are not before the window's end: its latest times are read
    # from its runs completed in the window [now - days + 1 µs, now + 1 µs) instead, each kind
    # its own — a failure exactly at the window's start counts, the run at its end does not.
    now = clock.now
    start = now - timedelta(days=1) + timedelta(microseconds=1)
    minute = timedelta(minutes=1)
    sync = (await make_connection(client, tenant, "sync", integration_type="metadata_sync"))["id"]
    hook = (await make_connection(client, tenant, "hook", integration_type="webhook"))["id"]
    theirs = (await make_connection(client, other_tenant, "sync", integration_type="metadata_sync"))["id"]
    await push(
        client, tenant, sync, service_key, started_at=start - minute, completed_at=start, error="refused"
    )
    hour_ago = now - timedelta(hours=1)
    await push(client, tenant, sync, service_key, started_at=hour_ago - minute, completed_at=hour_ago)
    ahead = now + timedelta(microseconds=1)
    await push(client, tenant, sync, service_key, started_at=now - minute, completed_at=ahead)
    # A connection whose kept times are not ahead: its latest time exactly at the window's start.
    await push(client, tenant, hook, service_key, started_at=start - minute, completed_at=start)
    # Another organisation's later runs of the same type are not this one's; it has a connection
    # ahead too, beside one that is not, both of that type.
    their_ahead = (await make_connection(client, other_tenant, "ahead", integration_type="metadata_sync"))[
        "id"
    ]
    four_ahead = now + timedelta(minutes=4)
    await push(
        client, other_tenant, their_ahead, service_key, started_at=now - minute, completed_at=four_ahead
    )
    for at, error in ((now - timedelta(minutes=30), None), (now - timedelta(minutes=40), "x")):
        await push(
            client, other_tenant, theirs, service_key, started_at=at - minute, completed_at=at, error=error
        )
    url = f"/api/v1/spaces/{tenant.slug}/integration-health"

    def seen(body: dict[str, Any]) -> tuple[Any, ...]:
        types = [
            (t["integration_type"], t["total"], t["errors"], t["last_event_at"])
            for t in body["by_integration_type"]
        ]
        counts = (body["total_events"], body["success_count"], body["error_count"])
        return (counts, body["last_success_at"], body["last_error_at"], types)

    first = (await client.get(url, params={"days": 1}, headers=tenant.read)).json()
    assert seen(first) == (
        (3, 2, 1),
        "2026-04-20T11:00:00Z",
        "2026-04-19T12:00:00Z",
        [("metadata_sync", 2, 1, "2026-04-20T11:00:00Z"), ("webhook", 1, 0, "2026-04-19T12:00:00Z")],
    )

    theirs_now = (
        await client.get(
            f"/api/v1/spaces/{other_tenant.slug}/integration-health",
            params={"days": 1},
            headers=other_tenant.read,
        )
    ).json()
    assert seen(theirs_now) == (
        (2, 1, 1),
        "2026-04-20T11:30:00Z",
        "2026-04-20T11:20:00Z",
        [("metadata_sync", 2, 1, "2026-04-20T11:30:00Z")],
    )

    # The loader reports again, four minutes ahead; a microsecond later the window has moved
    # past the failure and the first run of the hook, and takes in the run a microsecond ahead.
    await push(client, tenant, sync, service_key, started_at=now - minute, completed_at=four_ahead)
    clock.now = now + timedelta(microseconds=1)
    second = (await client.get(url, params={"days": 1}, headers=tenant.read)).json()
    assert seen(second) == (
        (2, 2, 0),
        "2026-04-20T12:00:00Z",
        None,
        [("metadata_sync", 2, 0, "2026-04-20T12:00:00Z"), ("webhook", 0, 0, None)],
    )


async def test_health__two_organisations_runs_on_each_part_of_the_window__each_counts_its_own(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    # At 12:30 the 30 days (Mar 21 12:30, Apr 20 12:30] are read in five parts: raw runs up to
    # 13:00, hours to midnight, whole days, hours from midnight to 12:00, raw runs to now. Runs
    # sit on the start of each rollup part and in both raw parts, with an organisation beside
    # them that has runs in every part too.
    clock.now = clock.now.replace(minute=30)
    minute = timedelta(minutes=1)
    sync = (await make_connection(client, tenant, "sync", integration_type="metadata_sync"))["id"]
    hook = (await make_connection(client, tenant, "hook", integration_type="webhook"))["id"]
    theirs = (await make_connection(client, other_tenant, "sync", integration_type="metadata_sync"))["id"]

    async def run(owner: Tenant, connection_id: str, at: str, **report: Any) -> None:
        t = datetime.fromisoformat(at).replace(tzinfo=UTC)
        await push(client, owner, connection_id, service_key, started_at=t - minute, completed_at=t, **report)

    await run(tenant, hook, "2026-03-21T12:45", error="refused")  # the first raw part: only a failure
    await run(tenant, sync, "2026-03-21T12:50")
    await run(tenant, sync, "2026-03-21T13:00")  # the first whole hour's start
    await run(tenant, sync, "2026-03-22T00:00", error="refused")  # the first whole day's start
    await run(tenant, hook, "2026-04-20T00:00")  # the start of the hours after the days
    await run(tenant, sync, "2026-04-20T12:10", batches_dlq=1)  # the last raw part: partial
    await run(tenant, sync, "2026-04-20T12:20")
    orphan = datetime(2026, 4, 20, 10, 0, tzinfo=UTC)
    await push(client, tenant, sync, service_key, started_at=orphan)  # orphaned at 10:15
    for at in ("2026-03-21T12:40", "2026-03-21T13:00", "2026-03-23T00:00", "2026-04-20T12:15"):
        await run(other_tenant, theirs, at)
        await run(other_tenant, theirs, at, error="theirs")
    await push(client, other_tenant, theirs, service_key, started_at=orphan - timedelta(hours=1))

    body = (await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health", headers=tenant.read)).json()

    assert body["precision"] == "exact"
    assert (body["total_events"], body["success_count"], body["error_count"]) == (8, 4, 4)
    assert (body["last_success_at"], body["last_error_at"]) == (
        "2026-04-20T12:20:00Z",
        "2026-04-20T12:10:00Z",
    )
    assert body["by_integration_type"] == [
        {"integration_type": "metadata_sync", "total": 6, "success": 3, "errors": 3,
         "last_event_at": "2026-04-20T12:20:00Z"},
        {"integration_type": "webhook", "total": 2, "success": 1, "errors": 1,
         "last_event_at": "2026-04-20T00:00:00Z"},
    ]  # fmt: skip


async def test_health__runs_and_an_orphan_past_raw_retention__counted_and_timed_from_hours_and_days(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
    settings: Settings,
) -> None:
    # Raw runs kept 3 days (from Apr 17 12:00), hourly rollups 8 (from Apr 13 00:00). Both
    # connections report once from a clock 4 minutes ahead, so their latest times come from the
    # rollups: the hours from Apr 13 00:00, the days before. An orphan that retention rolled up
    # lands in the first of those hours; a success the evening before is left in the hourly
    # rollups too, but its time is its day's, as the days' part ends where the hours' begins.
    short = settings.model_copy(update={"run_retention_days": 3, "rollup_retention_days": 8})
    minute = timedelta(minutes=1)
    sync = (await make_connection(client, tenant, "sync", integration_type="metadata_sync", state="paused"))[
        "id"
    ]
    hook = (await make_connection(client, tenant, "hook", integration_type="webhook", state="paused"))["id"]
    theirs = (await make_connection(client, other_tenant, "sync", integration_type="metadata_sync"))["id"]
    for connection_id, at, error in (
        (sync, datetime(2026, 3, 21, 5, 0, tzinfo=UTC), None),  # on the window's first day
        (sync, datetime(2026, 4, 12, 20, 0, tzinfo=UTC), None),
        (hook, datetime(2026, 4, 10, 10, 0, tzinfo=UTC), "refused"),
    ):
        await push(
            client, tenant, connection_id, service_key, started_at=at - minute, completed_at=at, error=error
        )
    await push(client, tenant, sync, service_key, started_at=datetime(2026, 4, 12, 23, 50, tzinfo=UTC))
    for at, error in (
        (datetime(2026, 4, 15, 10, 30, tzinfo=UTC), None),
        (datetime(2026, 4, 16, 10, 30, tzinfo=UTC), "x"),
    ):
        await push(
            client, other_tenant, theirs, service_key, started_at=at - minute, completed_at=at, error=error
        )
    result = await runner.tick(db, short, NoDispatcher(), clock.now)
    assert result.deleted is not None
    assert (result.deleted.runs, result.deleted.orphans) == (5, 1)
    ahead = clock.now + timedelta(minutes=4)
    for connection_id in (sync, hook):
        await push(client, tenant, connection_id, service_key, started_at=ahead - minute, completed_at=ahead)

    app = create_app(short, clock=clock, database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://pipepulse.test"
    ) as c:
        body = (await c.get(f"/api/v1/spaces/{tenant.slug}/integration-health", headers=tenant.read)).json()

    assert (body["precision"], body["counted_from"]) == ("day", "2026-03-21T00:00:00Z")
    assert (body["total_events"], body["success_count"], body["error_count"]) == (4, 2, 2)
    assert (body["last_success_at"], body["last_error_at"]) == (
        "2026-04-12T00:00:00Z",
        "2026-04-13T00:00:00Z",
    )
    assert body["by_integration_type"] == [
        {"integration_type": "metadata_sync", "total": 3, "success": 2, "errors": 1,
         "last_event_at": "2026-04-13T00:00:00Z"},
        {"integration_type": "webhook", "total": 1, "success": 0, "errors": 1,
         "last_event_at": "2026-04-10T00:00:00Z"},
    ]  # fmt: skip


async def test_health__window_starting_on_an_hour__its_first_hour_counted_once(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    # A microsecond before 13:00 the day (Apr 19 12:59:59.999999, Apr 20 12:59:59.999999] is
    # counted from 13:00 exactly: whole hours only, no partial hour at either edge.
    clock.now = clock.now.replace(minute=59, second=59, microsecond=999_999)
    sync = (await make_connection(client, tenant, "sync", integration_type="metadata_sync"))["id"]
    first_hour = datetime(2026, 4, 19, 13, 0, tzinfo=UTC)
    for at, error in (
        (first_hour - timedelta(microseconds=1), None),  # now - 1 day: not counted
        (first_hour, None),
        (first_hour + timedelta(minutes=30), "refused"),
        (first_hour + timedelta(hours=23, minutes=59), None),
    ):
        await push(
            client,
            tenant,
            sync,
            service_key,
            started_at=at - timedelta(minutes=1),
            completed_at=at,
            error=error,
        )
    url = f"/api/v1/spaces/{tenant.slug}/integration-health"

    for _ in range(2):  # the second read from the hours kept by the first
        body = (await client.get(url, params={"days": 1}, headers=tenant.read)).json()
        assert (body["total_events"], body["success_count"], body["error_count"]) == (3, 2, 1)
        assert (body["last_success_at"], body["last_error_at"]) == (
            "2026-04-20T12:59:00Z",
            "2026-04-19T13:30:00Z",
        )
        assert (body["precision"], body["counted_from"]) == ("exact", "2026-04-19T12:59:59Z")


async def test_health__two_organisations_read_in_turn__each_answered_from_its_own_kept_hours(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    # One report each, so both organisations' kept hours carry the same version: what one
    # organisation's read kept is never another's answer.
    ours = (await make_connection(client, tenant, "sync", integration_type="metadata_sync"))["id"]
    theirs = (await make_connection(client, other_tenant, "hook", integration_type="webhook"))["id"]
    ours_at = datetime(2026, 4, 18, 10, 0, tzinfo=UTC)
    theirs_at = datetime(2026, 4, 19, 10, 0, tzinfo=UTC)
    await push(client, tenant, ours, service_key, started_at=ours_at, completed_at=ours_at)
    await push(
        client, other_tenant, theirs, service_key, started_at=theirs_at, completed_at=theirs_at, error="x"
    )

    def seen(body: dict[str, Any]) -> tuple[Any, ...]:
        types = [
            (t["integration_type"], t["total"], t["success"], t["errors"])
            for t in body["by_integration_type"]
        ]
        return (body["total_events"], body["last_success_at"], body["last_error_at"], types)

    for _ in range(2):
        for owner, expected in (
            (tenant, (1, "2026-04-18T10:00:00Z", None, [("metadata_sync", 1, 1, 0)])),
            (other_tenant, (1, None, "2026-04-19T10:00:00Z", [("webhook", 1, 0, 1)])),
        ):
            url = f"/api/v1/spaces/{owner.slug}/integration-health"
            assert seen((await client.get(url, headers=owner.read)).json()) == expected


async def test_health__orphan_past_run_and_hourly_retention__a_failing_run_of_its_days_rollup(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
    settings: Settings,
) -> None:
    # Raw runs and hourly rollups kept 8 days: retention deletes an orphan's pending row and
    # counts it in its day's rollup as orphaned, which a year's health reads as a failing run.
    short = settings.model_copy(update={"run_retention_days": 8, "rollup_retention_days": 8})
    sync = await make_connection(client, tenant, "sync", integration_type="metadata_sync", state="paused")
    old = clock.now - timedelta(days=100)
    await push(client, tenant, sync["id"], service_key, started_at=old, completed_at=old)
    await push(client, tenant, sync["id"], service_key, started_at=old - timedelta(hours=1))
    result = await runner.tick(db, short, NoDispatcher(), clock.now)
    assert result.deleted is not None
    assert (result.deleted.runs, result.deleted.orphans) == (1, 1)

    app = create_app(short, clock=clock, database=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://pipepulse.test"
    ) as c:
        body = (
            await c.get(f"/api/v1/spaces/{tenant.slug}/integration-health?days=365", headers=tenant.read)
        ).json()

    assert (body["precision"], body["total_events"], body["success_count"], body["error_count"]) == (
        "day",
        2,
        1,
        1,
    )
    assert body["last_error_at"] == "2026-01-10T00:00:00Z"  # the orphan's day
    [sync_type] = body["by_integration_type"]
    assert (sync_type["total"], sync_type["success"], sync_type["errors"]) == (2, 1, 1)


async def test_health__connection_that_last_completed_just_after_now__its_runs_of_the_last_hour_counted(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> None:
    # At 12:30 the window's last hour [12:00, 12:30 + 1 µs) comes from its rollup row for the
    # connections whose latest run completed before the window's end, and from the runs of the
    # others: here one whose latest run completed a microsecond after now, on the window's end.
    clock.now = clock.now.replace(minute=30)
    minute = timedelta(minutes=1)
    ahead = (await make_connection(client, tenant, "ahead", integration_type="metadata_sync"))["id"]
    steady = (await make_connection(client, tenant, "steady", integration_type="webhook"))["id"]
    for connection_id, at, error in (
        (ahead, datetime(2026, 4, 20, 12, 10, tzinfo=UTC), None),
        (ahead, datetime(2026, 4, 20, 12, 20, tzinfo=UTC), "refused"),
        (ahead, clock.now + timedelta(microseconds=1), None),  # the window's end: not counted
        (steady, datetime(2026, 4, 20, 12, 15, tzinfo=UTC), None),
    ):
        await push(
            client, tenant, connection_id, service_key, started_at=at - minute, completed_at=at, error=error
        )

    body = (
        await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health?days=1", headers=tenant.read)
    ).json()
    assert (body["total_events"], body["success_count"], body["error_count"]) == (3, 2, 1)
    assert [(t["integration_type"], t["total"], t["errors"]) for t in body["by_integration_type"]] == [
        ("metadata_sync", 2, 1),
        ("webhook", 1, 0),
    ]


async def test_health__runs_imported_into_the_last_hour_and_rolled_up__counted(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock, db: Database
) -> None:
    # Runs written as raw rows (an import) and then rolled up by a rebuild: their connection
    # has never reported, so it keeps no latest times, and the window's last hour still
    # counts them from its rollup row.
    clock.now = clock.now.replace(minute=30)
    imported = (await make_connection(client, tenant, "imported", integration_type="metadata_sync"))["id"]
    reported = (await make_connection(client, tenant, "reported", integration_type="webhook"))["id"]
    at = datetime(2026, 4, 20, 12, 15, tzinfo=UTC)
    await push(client, tenant, reported, service_key, started_at=at - timedelta(minutes=1), completed_at=at)
    async with db.session(write=True) as session:
        for i, outcome in enumerate(("succeeded", "failed")):
            done = at + timedelta(minutes=i)
            await session.execute(
                insert(Run).values(
                    connection_id=imported, id=f"imported-{i}", organisation_id=tenant.id,
                    started_at=done - timedelta(minutes=1), completed_at=done, outcome=outcome,
                    events_delivered=0, batches_dlq=0, error=None if outcome == "succeeded" else "x",
                    created_at=done,
                )
            )  # fmt: skip
        await rebuild(session, imported)

    body = (
        await client.get(f"/api/v1/spaces/{tenant.slug}/integration-health?days=1", headers=tenant.read)
    ).json()
    assert (body["total_events"], body["success_count"], body["error_count"]) == (3, 2, 1)
    assert [(t["integration_type"], t["total"], t["errors"]) for t in body["by_integration_type"]] == [
        ("metadata_sync", 2, 1),
        ("webhook", 1, 0),
    ]
