"""Stored telemetry answers: served in one statement while they hold, replaced when a run is
written or the connection edited, and conditional requests answered with 304."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import event, select, text

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.db.models import StatusSnapshot
from pipepulse.db.session import Database
from pipepulse.rules import Thresholds
from pipepulse.snapshots import horizon
from tests.conftest import FrozenClock, Tenant, iso


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def _complete(
    client: httpx.AsyncClient, runs_url: str, key: dict[str, str], run_id: str, **body: Any
) -> None:
    response = await client.post(runs_url, json={"run_id": run_id, **body}, headers=key)
    assert response.status_code == 201, response.text


async def test_telemetry__unchanged_connection_read_again__one_statement(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
    db: Database,
) -> None:
    now = clock.now
    await _complete(
        client, runs_url, service_key, "r1",
        started_at=iso(now - timedelta(minutes=10)), completed_at=iso(now - timedelta(minutes=5)),
        events_delivered=7, batches_dlq=0, error=None,
    )  # fmt: skip
    url = tenant.connection_url(connection["id"]) + "telemetry/"
    first = await client.get(url, headers=tenant.read)  # computes and stores; signs the token in
    clock.advance(seconds=2)  # later, within the credential cache lifetime
    with _statements(db) as seen:
        second = await client.get(url, headers=tenant.read)
    assert second.json() == first.json()
    assert second.json()["events_last_24h"]["total"] == 7
    # Transaction control aside (SQLite's driver sends BEGIN), one statement: the stored answer's.
    queries = [s for s in seen if s.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK")]
    assert len(queries) == 1, queries
    assert "status_snapshots" in queries[0]


async def test_telemetry__etag__if_none_match_answers_304_until_the_answer_changes(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    url = tenant.connection_url(connection["id"]) + "telemetry/"
    first = await client.get(url, headers=tenant.read)
    etag = first.headers["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get(url, headers=tenant.read | {"If-None-Match": header})
        assert (response.status_code, response.headers["ETag"], response.content) == (304, etag, b"")
    stale = await client.get(url, headers=tenant.read | {"If-None-Match": '"other"'})
    assert (stale.status_code, stale.json()) == (200, first.json())

    now = clock.now
    await _complete(
        client, runs_url, service_key, "r1",
        started_at=iso(now - timedelta(minutes=2)), completed_at=iso(now - timedelta(minutes=1)),
        events_delivered=3, batches_dlq=0, error=None,
    )  # fmt: skip
    changed = await client.get(url, headers=tenant.read | {"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.json()["events_last_24h"]["total"] == 3


async def test_telemetry__report_for_a_pending_run_between_reads__answer_includes_it(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    now = clock.now
    await _complete(client, runs_url, service_key, "r1", started_at=iso(now - timedelta(minutes=5)))
    url = tenant.connection_url(connection["id"]) + "telemetry/"
    assert (await client.get(url, headers=tenant.read)).json()["status"] == "idle"
    report = {"completed_at": iso(now), "events_delivered": 0, "batches_dlq": 0, "error": "disk full"}
    response = await client.patch(f"{runs_url}r1/", json=report, headers=service_key)
    assert response.status_code == 204
    after = (await client.get(url, headers=tenant.read)).json()
    assert after["status"] == "error"
    assert after["recent_errors"][0]["message"] == "disk full"


async def test_telemetry__pending_run_past_its_orphan_window__read_after_stored_answer_sees_the_orphan(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    now = clock.now
    await _complete(client, runs_url, service_key, "r1", started_at=iso(now))
    url = tenant.connection_url(connection["id"]) + "telemetry/"
    assert (await client.get(url, headers=tenant.read)).json()["status"] == "idle"
    clock.now = now + timedelta(minutes=15) - timedelta(microseconds=1)
    assert (await client.get(url, headers=tenant.read)).json()["status"] == "idle"
    clock.now = now + timedelta(minutes=15)
    assert (await client.get(url, headers=tenant.read)).json()["status"] == "error"
    clock.now = now + timedelta(minutes=15, hours=24)
    assert (await client.get(url, headers=tenant.read)).json()["status"] == "idle"


async def test_telemetry__event_types_edited__answer_lists_the_new_types(
    client: httpx.AsyncClient, tenant: Tenant, connection: dict[str, Any]
) -> None:
    url = tenant.connection_url(connection["id"])
    before = (await client.get(url + "telemetry/", headers=tenant.read)).json()
    assert set(before["events_last_24h"]) == {"evaluations", "custom_events", "total"}
    edited = await client.patch(url, json={"event_types": ["evaluations"]}, headers=tenant.write)
    assert edited.status_code == 200, edited.text
    after = (await client.get(url + "telemetry/", headers=tenant.read)).json()
    assert set(after["events_last_24h"]) == {"evaluations", "total"}


async def test_runs_written_by_any_statement__bump_the_inputs_version(
    db: Database, tenant: Tenant, connection: dict[str, Any], clock: FrozenClock
) -> None:
    """The version is kept by the database, so writers that never heard of it keep it too."""
    cid, stamp = connection["id"], clock.now.replace(tzinfo=None).isoformat(sep=" ")

    async def version() -> int | None:
        async with db.session() as session:
            return await session.scalar(
                select(StatusSnapshot.inputs_version).where(StatusSnapshot.connection_id == cid)
            )

    assert await version() is None
    statements = [
        "INSERT INTO runs (connection_id, id, organisation_id, started_at, outcome, events_delivered,"
        " batches_dlq, created_at) VALUES (:cid, 'raw', :org, :t, 'pending', 0, 0, :t)",
        "UPDATE runs SET outcome = 'orphaned' WHERE connection_id = :cid",
        "DELETE FROM runs WHERE connection_id = :cid",
    ]
    for expected, statement in enumerate(statements, start=1):
        async with db.session(write=True) as session:
            values: dict[str, Any] = {"cid": cid, "org": tenant.id, "t": stamp}
            if db.dialect == "postgresql":
                values["t"] = clock.now
            await session.execute(text(statement), values)
        assert await version() == expected


def test_next_change__run_times__earliest_entry_or_exit_of_a_window() -> None:
    at = datetime(2026, 4, 20, 12, tzinfo=UTC)
    thresholds = Thresholds()
    nothing = horizon.FirstAfter(completed=(None, None, None), pending=(None, None, None))
    assert horizon.next_change(nothing, thresholds) is None
    week_old = at - timedelta(days=6, hours=23)
    first = horizon.FirstAfter(
        completed=(None, at - timedelta(hours=3), week_old), pending=(None, None, None)
    )
    assert horizon.next_change(first, thresholds) == week_old + timedelta(days=7)
    started = at - timedelta(minutes=10)
    first = horizon.FirstAfter(completed=(None, None, week_old), pending=(started, started, started))
    assert horizon.next_change(first, thresholds) == started + timedelta(minutes=15)


def test_not_modified__header_forms() -> None:
    tag = '"abc"'
    assert horizon.not_modified('"abc"', tag)
    assert horizon.not_modified('W/"abc"', tag)
    assert horizon.not_modified('"x", "abc"', tag)
    assert horizon.not_modified("*", tag)
    assert not horizon.not_modified(None, tag)
    assert not horizon.not_modified("", tag)
    assert not horizon.not_modified('"abcd"', tag)


def test_basis__thresholds_or_event_types_differ__digests_differ() -> None:
    base = horizon.basis(Thresholds(), ["evaluations"])
    assert base == horizon.basis(Thresholds(), ["evaluations"])
    assert base != horizon.basis(Thresholds(error_status_runs=4), ["evaluations"])
    assert base != horizon.basis(Thresholds(), ["evaluations", "custom_events"])


async def test_telemetry__more_concurrent_first_reads_than_pooled_connections__all_answered(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    """Each first read computes and stores its answer: it must never hold one pooled
    connection while waiting for another, or a burst of them waits on itself."""
    created = [
        await client.post(
            tenant.connections_url(), json={"name": f"c{i}", "type": "duckdb"}, headers=tenant.write
        )
        for i in range(3 * db.engine.pool.size() if hasattr(db.engine.pool, "size") else 30)
    ]
    urls = [tenant.connection_url(c.json()["id"]) + "telemetry/" for c in created]
    responses = await asyncio.wait_for(
        asyncio.gather(*(client.get(url, headers=tenant.read) for url in urls)), timeout=60
    )
    assert [r.status_code for r in responses] == [200] * len(urls)


async def test_telemetry__held_answer_read_by_a_burst_of_a_credential_never_seen__all_answered(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, clock: FrozenClock
) -> None:
    """A held answer is read on a connection of its own after authentication: the session
    that looked the credential up (a cache miss, as for every request of this burst) must
    have given its connection back first, or as many requests as the pool has connections
    each hold one and wait for another."""
    created = await client.post(
        tenant.connections_url(), json={"name": "held", "type": "duckdb"}, headers=tenant.write
    )
    url = tenant.connection_url(created.json()["id"]) + "telemetry/"
    first = await client.get(url, headers=tenant.read)
    assert first.status_code == 200
    async with db.session(write=True) as session:
        fresh = await auth_service.create_token(
            session,
            organisation_id=tenant.id,
            scopes=[scopes.READ_PIPELINE_METRICS],
            name="burst",
            now=clock.now,
        )
    headers = {"Authorization": f"Bearer {fresh.token}"}
    size = db.engine.pool.size() if hasattr(db.engine.pool, "size") else 10
    responses = await asyncio.wait_for(
        asyncio.gather(*(client.get(url, headers=headers) for _ in range(3 * size))), timeout=60
    )
    assert [r.status_code for r in responses] == [200] * (3 * size)
    assert {r.content for r in responses} == {first.content}
    assert {r.headers["ETag"] for r in responses} == {first.headers["ETag"]}
