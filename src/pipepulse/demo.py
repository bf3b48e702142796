"""``pipepulse demo``: a self-contained, living installation on the embedded database.

It resets its own data directory on every start (a predictable story each time), builds
one organisation with four connections, backfills a week of history through the ingest
service, then runs the API and dashboard, the scheduler and the in-process reference
loader, with an event generator feeding the loader's source files.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
import uvicorn

from pipepulse import demo_alerts
from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.auth.principals import UserPrincipal
from pipepulse.config import Settings
from pipepulse.connections import service as connections_service
from pipepulse.connections.schemas import ConnectionCreate
from pipepulse.db.engine import create_engine
from pipepulse.db.migrate import ensure_schema
from pipepulse.db.session import Database
from pipepulse.organisations import service as organisations_service
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import RunCreate
from pipepulse.scheduler import dispatchers, runner
from pipepulse.watch.alerts.channels import keys as channel_keys

SCHEDULE_SECONDS = 60
# The backfill is hourly: a delivery up to two hours old is on time.
FRESHNESS_SLA_SECONDS = 2 * 3600
DROPPED_SHARE = 0.04
TICK_SECONDS = 5.0
UNREACHABLE_WAREHOUSE = "postgresql://loader@127.0.0.1:1/warehouse"


@dataclass(frozen=True)
class DemoConnection:
    key: str
    name: str
    type: str
    state: str
    poison_rate: float  # share of backfilled runs with DLQ batches
    broken_for_hours: int = 0  # its warehouse has been unreachable this long
    destination_url: str | None = None
    dropped_last_hour: bool = False  # delivered a small fraction of its usual volume last hour


CONNECTIONS = (
    DemoConnection("healthy", "Analytics warehouse", "snowflake", "connected", 0.0, dropped_last_hour=True),
    DemoConnection("flaky", "Marketing events", "bigquery", "connected", 0.12),
    DemoConnection("broken", "Finance replica", "postgres", "error", 0.0, 20, UNREACHABLE_WAREHOUSE),
    DemoConnection("paused", "Legacy exports", "redshift", "paused", 0.0),
)


@dataclass
class DemoHandles:
    token: str
    service_key: str
    organisation_id: int
    connection_ids: dict[str, str]


def demo_settings(base: Settings, data_dir: Path, public_url: str = "http://127.0.0.1:8000") -> Settings:
    return base.model_copy(
        update={
            # The demo's webhook receiver listens on loopback; only the demo allows that.
            "alerts_allow_private_urls": True,
            "public_url": public_url,
            "database_url": f"sqlite:///{data_dir / 'pipepulse.db'}",
            "data_dir": data_dir,
            "dispatcher": "local",
            "loader_source_root": data_dir / "source",
            "loader_destination": f"duckdb:///{data_dir / 'warehouse.duckdb'}",
            "scheduler_tick_seconds": TICK_SECONDS,
        }
    )


async def build_history(
    db: Database, now: datetime, *, progress: Callable[[int], None] | None = None, seed: int = 7
) -> DemoHandles:
    """The organisation, its connections and a week of hourly runs, through the ingest service."""
    rng = random.Random(seed)
    async with db.session(write=True) as session:
        org = await organisations_service.create(session, slug="acme", name="Acme Corp", now=now)
        token = await auth_service.create_token(
            session, organisation_id=org.id, scopes=list(scopes.ALL), name="demo", now=now
        )
        key = await auth_service.create_service_key(session, name="demo-loader", now=now)
        # The demo's own set-up acts with the organisation's full rights.
        owner = UserPrincipal(token_id="demo", organisation_id=org.id, scopes=frozenset(scopes.ALL))
        connection_ids: dict[str, str] = {}
        for spec in CONNECTIONS:
            config: dict[str, Any] = {"source_prefix": f"events/acme/{spec.key}"}
            if spec.destination_url:
                config["destination_url"] = spec.destination_url
            created = await connections_service.create(
                session,
                owner,
                org.id,
                ConnectionCreate(
                    name=spec.name,
                    type=spec.type,
                    state=spec.state,
                    config=config,
                    schedule_interval_seconds=SCHEDULE_SECONDS,
                    freshness_sla_seconds=FRESHNESS_SLA_SECONDS,
                ),
                now - timedelta(days=8),
            )
            connection_ids[spec.key] = created.id

    hours = 7 * 24
    # One run an hour, each finishing inside its own UTC hour, so the volume baseline (the
    # same hour on the previous days) always has its hours.
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    for spec in CONNECTIONS:
        async with db.session(write=True) as session:
            connection = await connections_service.get(session, org.id, connection_ids[spec.key])
            last_hour = hours if spec.state != "paused" else hours - 5 * 24  # paused five days ago
            for h in range(hours, 0, -1):
                started = this_hour - timedelta(hours=h) + timedelta(minutes=rng.randint(5, 40))
                if hours - h >= last_hour:
                    break
                body = _backfill_run(
                    rng,
                    spec,
                    started,
                    orphan=(spec.key == "flaky" and h == 30),
                    broken=h <= spec.broken_for_hours,
                    dropped=spec.dropped_last_hour and h == 1,
                )
                await runs_service.create(session, connection, body, now)
                if progress is not None:
                    progress(1)
    return DemoHandles(token.token, key.key, org.id, connection_ids)


def _backfill_run(
    rng: random.Random,
    spec: DemoConnection,
    started: datetime,
    *,
    orphan: bool,
    broken: bool,
    dropped: bool = False,
) -> RunCreate:
    if orphan:
        return RunCreate(started_at=started)
    completed = started + timedelta(seconds=rng.randint(20, 240))
    # Daily rhythm: busier in European working hours, steady from one day to the next.
    volume = int(1200 * rng.uniform(0.9, 1.1) * (1.6 if 8 <= started.hour <= 18 else 0.6))
    if dropped:
        volume = int(volume * DROPPED_SHARE)
    if broken:
        return RunCreate(
            started_at=started,
            completed_at=completed,
            events_delivered=0,
            error=f"destination unreachable: {UNREACHABLE_WAREHOUSE}: connection refused",
        )
    evaluations = int(volume * rng.uniform(0.6, 0.8))
    dlq = rng.randint(1, 3) if rng.random() < spec.poison_rate else 0
    return RunCreate(
        started_at=started,
        completed_at=completed,
        events_delivered=volume,
        events_by_type={"evaluations": evaluations, "custom_events": volume - evaluations},
        batches_dlq=dlq,
        latency_ms=rng.randint(30_000, 600_000),
        events_pending=0,
        bytes_delivered=volume * rng.randint(300, 500),
    )


async def generate_events(settings: Settings, stop: asyncio.Event, now: Callable[[], datetime]) -> None:
    """Keep the healthy and flaky sources fed; the flaky one gets a poison line now and then."""
    from pipepulse.loader.generator import generate_files

    assert settings.loader_source_root is not None
    rng = random.Random()
    while not stop.is_set():
        for key in ("healthy", "flaky"):
            await asyncio.to_thread(
                generate_files,
                settings.loader_source_root,
                0,
                now=now(),
                source_prefix=f"events/acme/{key}",
                hours=1,
                files_per_hour=1,
                events_per_file=rng.randint(150, 400),
                poison=key == "flaky" and rng.random() < 0.3,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=20)


def _check_port_free(host: str, port: int) -> None:
    """Say so before a minute of set-up, not after, when the port is taken."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            typer.secho(
                f"error: cannot listen on {host}:{port} ({exc.strerror}); try --port", err=True, fg="red"
            )
            raise typer.Exit(1) from None


class _QuietServer(uvicorn.Server):
    """The demo owns Ctrl-C (to stop the scheduler and loader too), not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def run_demo(base: Settings, *, host: str, port: int, data_dir: Path | None) -> None:
    _check_port_free(host, port)
    data_dir = data_dir or base.data_dir / "demo"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    settings = demo_settings(base, data_dir, public_url=f"http://{host}:{port}")
    asyncio.run(_main(settings, host, port))


async def _main(settings: Settings, host: str, port: int) -> None:
    def clock() -> datetime:
        return datetime.now(UTC)

    db = Database(create_engine(settings.resolved_database_url))
    # No PIPEPULSE_SECRET_KEY needed: the demo's channel secrets use the key in its data directory.
    channel_keys.install(settings)
    await ensure_schema(db, auto_migrate=settings.auto_migrate)
    total = sum(7 * 24 if c.state != "paused" else 2 * 24 for c in CONNECTIONS)
    typer.echo("pipepulse demo: building a week of history on the embedded SQLite database")
    with typer.progressbar(length=total, label="backfilling runs") as bar:
        handles = await build_history(db, clock(), progress=bar.update)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    app = create_app(settings, clock=clock, database=db, require_scheduler=True)
    server = _QuietServer(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    dispatcher = dispatchers.build(settings, db, clock)

    serving = asyncio.create_task(server.serve())
    # Print the URLs only once they answer (a busy port ends the demo with uvicorn's message).
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.05)
    if serving.done():
        await db.dispose()
        raise typer.Exit(1)

    receiver = demo_alerts.Receiver(report=typer.echo)
    await receiver.start()
    async with db.session(write=True) as session:
        owner = UserPrincipal(
            token_id="demo", organisation_id=handles.organisation_id, scopes=frozenset(scopes.ALL)
        )
        await demo_alerts.set_up(
            session, owner, handles.organisation_id, handles.connection_ids["broken"], receiver, clock()
        )

    base_url = f"http://{host}:{port}"
    first = f"{base_url}/api/v1/organisations/{handles.organisation_id}/integrations/warehouse-connections/"
    typer.echo("")
    typer.secho(f"  Dashboard:   {base_url}/", bold=True)
    typer.echo(f"  API docs:    {base_url}/api/v1/docs")
    typer.secho(f"  Token:       {handles.token}", bold=True)
    typer.echo(f"  Service key: {handles.service_key}")
    typer.echo(f"  Try:         curl -H 'Authorization: Bearer {handles.token}' {first}")
    typer.echo(
        f"  Alerts:      {base_url}/orgs/{handles.organisation_id}/alerts/"
        f" (a webhook receiver on port {receiver.port} prints what it gets)"
    )
    typer.echo(f"  Data:        {settings.data_dir} (reset on every `pipepulse demo`)")
    typer.echo("  Ctrl-C stops everything.")

    tasks = [
        serving,
        asyncio.create_task(runner.run_forever(db, settings, dispatcher, clock, stop)),
        asyncio.create_task(generate_events(settings, stop, clock)),
    ]
    await stop.wait()
    server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    await receiver.close()
    await db.dispose()
    typer.echo("pipepulse demo stopped.")
