"""A real outage: PostgreSQL stopped and started under a stream of reports to `pipepulse serve`.

The test makes its own PostgreSQL cluster (initdb, a free port), so stopping it touches
nobody else. While loaders PATCH reports over keep-alive connections, the cluster is stopped
twice (a fast shutdown that cuts queries off mid-flight, then an immediate one, like a crash)
and started again. Every answer must be a 2xx or a 503 with Retry-After, no connection may be
reset, every accepted report must be stored exactly once, and the server must log no traceback.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, insert, select

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.db import migrate
from pipepulse.db.engine import async_database_url, create_engine
from pipepulse.db.models import Run, RunHourlyRollup
from pipepulse.db.session import Database
from pipepulse.organisations import service as organisations_service
from tests.throwaway_postgres import Cluster, binaries, free_port

# Needs PostgreSQL's own tools; runs once, in the PostgreSQL pass.
pytestmark = pytest.mark.only_on("postgres")

RUNS = 300
WORKERS = 6


@dataclass
class Deployment:
    cluster: Cluster
    base_url: str
    database_url: str
    organisation_id: int
    connection_id: str
    service_key: str
    platform_token: str
    log: Path


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bin_dir = binaries()
    if bin_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL's initdb/pg_ctl are required on CI (postgresql package)")
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed")
    made = Cluster(bin_dir)
    made.init()
    made.start()
    yield made
    made.destroy()


async def _provision(url: str, now: datetime) -> tuple[int, str, str, str]:
    db = Database(create_engine(async_database_url(url)))
    try:
        await migrate.upgrade(db.engine)
        async with db.session(write=True) as session:
            org = await organisations_service.create(session, slug="acme", name="Acme", now=now)
            token = await auth_service.create_token(
                session, organisation_id=None, scopes=list(scopes.ALL), name="ops", now=now
            )
            key = await auth_service.create_service_key(session, name="loader", now=now)
            return org.id, token.token, key.key, str(org.id)
    finally:
        await db.dispose()


async def _seed_runs(url: str, organisation_id: int, connection_id: str, now: datetime) -> None:
    db = Database(create_engine(async_database_url(url)))
    try:
        async with db.session(write=True) as session:
            await session.execute(
                insert(Run),
                [
                    {
                        "connection_id": connection_id,
                        "id": f"run-{i:05d}",
                        "organisation_id": organisation_id,
                        "started_at": now - timedelta(minutes=2),
                        "outcome": "pending",
                        "events_delivered": 0,
                        "batches_dlq": 0,
                        "created_at": now,
                    }
                    for i in range(RUNS)
                ],
            )
    finally:
        await db.dispose()


@dataclass
class Provisioned:
    organisation_id: int
    platform_token: str
    service_key: str


@pytest.fixture
async def provisioned(cluster: Cluster) -> Provisioned:
    organisation_id, token, key, _ = await _provision(cluster.url, datetime.now(UTC))
    return Provisioned(organisation_id, token, key)


@pytest.fixture
def server(cluster: Cluster, provisioned: Provisioned, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`pipepulse serve` on a free port against the cluster; yields its URL and its log."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEPULSE_")}
    env.update(
        PIPEPULSE_DATABASE_URL=cluster.url,
        PIPEPULSE_DATA_DIR=str(tmp_path),
        PIPEPULSE_DB_POOL_SIZE="4",
        PIPEPULSE_DB_CONNECT_TIMEOUT_SECONDS="2",
        PIPEPULSE_DB_POOL_TIMEOUT_SECONDS="3",
    )
    log = tmp_path / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipepulse", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
async def deployment(cluster: Cluster, provisioned: Provisioned, server: tuple[str, Path]) -> Deployment:
    base, log = server
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        created = await client.post(
            f"/api/v1/organisations/{provisioned.organisation_id}/integrations/warehouse-connections/",
            json={"name": "Warehouse", "type": "postgres"},
            headers={"Authorization": f"Bearer {provisioned.platform_token}"},
        )
    assert created.status_code == 201, created.text
    connection_id = created.json()["id"]
    await _seed_runs(cluster.url, provisioned.organisation_id, connection_id, datetime.now(UTC))
    return Deployment(
        cluster,
        base,
        cluster.url,
        provisioned.organisation_id,
        connection_id,
        provisioned.service_key,
        provisioned.platform_token,
        log,
    )


@dataclass
class Outcome:
    statuses: Counter[int] = field(default_factory=Counter)
    accepted: dict[str, int] = field(default_factory=dict)
    transport_errors: list[str] = field(default_factory=list)
    bad_answers: list[str] = field(default_factory=list)
    flowing: asyncio.Event = field(default_factory=asyncio.Event)


def _report(i: int, completed_at: datetime) -> dict[str, object]:
    events = i + 1
    return {
        "completed_at": completed_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "events_delivered": events,
        "batches_dlq": 0,
        "error": None,
        "events_by_type": {"evaluations": events},
    }


async def _loader(
    deployment: Deployment, queue: asyncio.Queue[int], outcome: Outcome, outages_over: asyncio.Event
) -> None:
    path = (
        f"/api/v1/organisations/{deployment.organisation_id}/integrations/warehouse-connections/"
        f"{deployment.connection_id}/metrics/"
    )
    # One connection per loader: a server that closed it after a 503 would show as a reset.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"Authorization": f"Bearer {deployment.service_key}"}
    completed_at = datetime.now(UTC) - timedelta(minutes=1)
    deadline = time.monotonic() + 120
    repeat = 0
    async with httpx.AsyncClient(
        base_url=deployment.base_url, limits=limits, headers=headers, timeout=15
    ) as client:
        while time.monotonic() < deadline and not (queue.empty() and outages_over.is_set()):
            if not queue.empty():
                i = queue.get_nowait()
            elif outcome.accepted:
                # Every run is reported but the outages go on: resend an accepted report, which
                # must stay a no-op 204 however often it arrives.
                repeat += 1
                i = int(sorted(outcome.accepted)[repeat % len(outcome.accepted)].removeprefix("run-"))
            else:
                await asyncio.sleep(0.05)
                continue
            while time.monotonic() < deadline:
                try:
                    response = await client.patch(f"{path}run-{i:05d}/", json=_report(i, completed_at))
                except httpx.TransportError as exc:
                    outcome.transport_errors.append(f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.1)
                    continue
                outcome.statuses[response.status_code] += 1
                if sum(outcome.statuses.values()) >= 30:
                    outcome.flowing.set()
                if response.headers.get("connection", "").lower() == "close":
                    outcome.bad_answers.append(f"{response.status_code} closed the connection")
                if response.status_code == 204:
                    outcome.accepted[f"run-{i:05d}"] = i + 1
                    await asyncio.sleep(0.02)  # a loader's pace, so the stream spans the outages
                    break
                if response.status_code == 503 and response.headers.get("retry-after", "").isdigit():
                    await asyncio.sleep(0.1)  # a real loader waits Retry-After; the test is in a hurry
                    continue
                outcome.bad_answers.append(f"{response.status_code}: {response.text[:200]}")
                break


async def _outages(cluster: Cluster, outcome: Outcome, over: asyncio.Event) -> int:
    """Stop and start the cluster twice once reports are flowing; returns the outages made."""
    try:
        await outcome.flowing.wait()
        for mode in ("fast", "immediate"):
            await asyncio.to_thread(cluster.stop, mode)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.start)
            await asyncio.sleep(0.5)
        return 2
    finally:
        over.set()


async def test_outage__postgres_stopped_and_restarted_under_reports__only_2xx_503_each_report_once(
    deployment: Deployment,
) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(RUNS):
        queue.put_nowait(i)
    outcome = Outcome()
    over = asyncio.Event()

    loaders = [asyncio.create_task(_loader(deployment, queue, outcome, over)) for _ in range(WORKERS)]
    outages = await _outages(deployment.cluster, outcome, over)
    await asyncio.gather(*loaders)

    assert outages == 2
    assert outcome.transport_errors == []
    assert outcome.bad_answers == []
    assert set(outcome.statuses) <= {204, 503}
    assert outcome.statuses[503] > 0, "the outages were not seen: the test proves nothing"
    assert len(outcome.accepted) == RUNS

    # Stored exactly once: every run completed with its own report, and counted once in the
    # rollups (a report answered 503 whose commit went through is a no-op when resent).
    db = Database(create_engine(async_database_url(deployment.database_url)))
    try:
        async with db.session() as session:
            rows = dict(
                (
                    await session.execute(
                        select(Run.id, Run.events_delivered).where(Run.completed_at.is_not(None))
                    )
                ).all()
            )
            rolled_runs, rolled_events = (
                await session.execute(
                    select(func.sum(RunHourlyRollup.runs), func.sum(RunHourlyRollup.events_delivered))
                )
            ).one()
    finally:
        await db.dispose()
    assert rows == outcome.accepted
    assert (rolled_runs, rolled_events) == (RUNS, sum(outcome.accepted.values()))

    async with httpx.AsyncClient(base_url=deployment.base_url) as client:
        exposition = (
            await client.get("/metrics", headers={"Authorization": f"Bearer {deployment.platform_token}"})
        ).text
    patch_503 = [
        line
        for line in exposition.splitlines()
        if line.startswith("pipepulse_http_requests_total{")
        and 'method="PATCH"' in line
        and 'status="503"' in line
    ]
    assert len(patch_503) == 1
    assert float(patch_503[0].rsplit(" ", 1)[1]) == outcome.statuses[503]
    assert 'status="500"' not in exposition

    assert "Traceback" not in deployment.log.read_text()
