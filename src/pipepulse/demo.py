"""``pipepulse demo``: a self-contained, living installation on the embedded database.

It resets its own data directory on every start (a predictable story each time), builds
one organisation with the connections of :data:`CONNECTIONS`, backfills a week of
five-minute runs through the ingest service, then runs the API and dashboard, the scheduler
and the in-process reference loader, with a feed writing each slot's source file. The live
loader continues the backfill's cadence and volumes, so the story holds while one watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import shutil
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
import uvicorn

from pipepulse import demo_alerts, local_loader
from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.auth.principals import UserPrincipal
from pipepulse.clock import utc_now
from pipepulse.config import Settings
from pipepulse.connections import service as connections_service
from pipepulse.connections.schemas import ConnectionCreate
from pipepulse.db.engine import create_engine
from pipepulse.db.migrate import ensure_schema
from pipepulse.db.session import Database
from pipepulse.delivery.channels import keys as channel_keys
from pipepulse.lineage import demo as lineage_demo
from pipepulse.organisations import service as organisations_service
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import RunCreate
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import Dispatcher

# One cadence for the whole story: the backfilled week and the live loader both run every
# five minutes, and every run carries the volume of its five-minute slot (see slot_volume),
# so the volume baseline (the same hour on the previous days) matches what the live loader
# delivers, and the freshness SLA fits the cadence.
SCHEDULE_SECONDS = 5 * 60
FRESHNESS_SLA_SECONDS = 30 * 60
BACKFILL_DAYS = 7
# Marketing events: one slot in eighteen carries a poison line, so a batch is dead-lettered
# every 90 minutes; never in two runs in a row (nor in three hourly runs of the older
# backfill in a row), so the connection stays Degraded: Error needs three failing runs in a row.
POISON_EVERY = 18
TICK_SECONDS = 5.0
UNREACHABLE_WAREHOUSE = "postgresql://loader@127.0.0.1:1/warehouse"


@dataclass(frozen=True)
class DemoConnection:
    """One connection of the story: what it is, and what a watcher should see on it."""

    key: str
    name: str
    type: str
    state: str
    story: str  # printed by the demo: what this connection shows
    poison: bool = False  # now and then a batch goes to the dead-letter queue
    broken_for_hours: int = 0  # its warehouse has been unreachable this long
    destination_url: str | None = None
    paused_days_ago: int = 0
    fed: bool = True  # the live feed writes its source files (False: something else feeds it)


# The story. A connection is added with one entry here (and its source is fed when it is
# scheduled); nothing else counts them.
CONNECTIONS = (
    DemoConnection(
        "healthy", "Analytics warehouse", "snowflake", "connected", "Active, on time, normal volume"
    ),
    DemoConnection(
        "flaky",
        "Marketing events",
        "bigquery",
        "connected",
        "Degraded: every 90 min a poison line sends one batch to the dead-letter queue",
        poison=True,
    ),
    DemoConnection(
        "broken",
        "Finance replica",
        "postgres",
        "error",
        "Error: its warehouse has been unreachable for 20 h (an open incident, late)",
        broken_for_hours=20,
        destination_url=UNREACHABLE_WAREHOUSE,
    ),
    DemoConnection(
        "paused", "Legacy exports", "redshift", "paused", "Idle: paused five days ago", paused_days_ago=5
    ),
)


@dataclass
class DemoHandles:
    token: str
    service_key: str
    organisation_id: int
    connection_ids: dict[str, str]
    metrics_token: str = ""


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


def slot_start(moment: datetime) -> datetime:
    """The start of the five-minute slot holding ``moment``."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % SCHEDULE_SECONDS, UTC)


def slot_volume(key: str, slot: datetime) -> int:
    """Events one run of ``key`` delivers in ``slot``: about 1,200 an hour, busier in European
    working hours, the same rhythm every day (so each hour matches its baseline)."""
    jitter = random.Random(f"{key}:{int(slot.timestamp())}").uniform(0.9, 1.1)
    per_hour = 1200 * (1.6 if 8 <= slot.hour <= 18 else 0.6)
    return int(per_hour * SCHEDULE_SECONDS / 3600 * jitter)


def is_poison_slot(spec: DemoConnection, slot: datetime) -> bool:
    return spec.poison and (int(slot.timestamp()) // SCHEDULE_SECONDS) % POISON_EVERY == 3


def backfill_slots(spec: DemoConnection, now: datetime) -> list[tuple[datetime, int]]:
    """The backfilled runs before ``now``'s own slot, oldest first, as (start, slots covered).

    The last 24 hours, which the status and the incidents read run by run, are at the live
    cadence; the six days before are one run an hour carrying the hour's twelve slots (what
    the volume baseline compares, hour by hour, is the same), because a week of five-minute
    runs through the ingest service takes minutes on a small machine. A paused connection's
    runs stop when it was paused.
    """
    current = slot_start(now)
    per_hour = 3600 // SCHEDULE_SECONDS
    recent = [(current - timedelta(seconds=SCHEDULE_SECONDS * k), 1) for k in range(24 * per_hour, 0, -1)]
    first_recent = recent[0][0]
    older = [(first_recent - timedelta(hours=h), per_hour) for h in range((BACKFILL_DAYS - 1) * 24, 0, -1)]
    runs = older + recent
    if spec.paused_days_ago:
        paused_at = now - timedelta(days=spec.paused_days_ago)
        runs = [r for r in runs if r[0] < paused_at]
    return runs


def backfill_total(now: datetime) -> int:
    return sum(len(backfill_slots(spec, now)) for spec in CONNECTIONS)


async def build_history(
    db: Database, now: datetime, *, progress: Callable[[int], None] | None = None, seed: int = 7
) -> DemoHandles:
    """The organisation, its connections and a week of runs, through the ingest service."""
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
            config: dict[str, Any] = {"source_prefix": source_prefix(spec)}
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
                now - timedelta(days=BACKFILL_DAYS + 1),
            )
            connection_ids[spec.key] = created.id

    for spec in CONNECTIONS:
        async with db.session(write=True) as session:
            connection = await connections_service.get(session, org.id, connection_ids[spec.key])
            broken_since = now - timedelta(hours=spec.broken_for_hours)
            for slot, covered in backfill_slots(spec, now):
                broken = bool(spec.broken_for_hours) and slot >= broken_since
                body = _backfill_run(rng, spec, slot, covered, broken=broken)
                await runs_service.create(session, connection, body, now)
                if progress is not None:
                    progress(1)
    await lineage_demo.add_lineage_connection(db, org.id, now)
    return DemoHandles(token.token, key.key, org.id, connection_ids)


def source_prefix(spec: DemoConnection) -> str:
    return f"events/acme/{spec.key}"


def _backfill_run(
    rng: random.Random, spec: DemoConnection, first: datetime, covered: int, *, broken: bool
) -> RunCreate:
    # Each run starts and finishes inside its first slot, so it counts in that slot's hour.
    started = first + timedelta(seconds=rng.randint(1, 30))
    completed = started + timedelta(seconds=rng.randint(5, 90))
    if broken:
        return RunCreate(
            started_at=started,
            completed_at=completed,
            events_delivered=0,
            error=f"destination unreachable: {UNREACHABLE_WAREHOUSE}: connection refused",
        )
    slots = [first + timedelta(seconds=SCHEDULE_SECONDS * i) for i in range(covered)]
    # As the live loader does: the batch holding a poison line (its slot's whole file) goes
    # to the dead-letter queue.
    dlq = sum(1 for slot in slots if is_poison_slot(spec, slot))
    volume = sum(slot_volume(spec.key, slot) for slot in slots if not is_poison_slot(spec, slot))
    evaluations = int(volume * rng.uniform(0.6, 0.8))
    return RunCreate(
        started_at=started,
        completed_at=completed,
        events_delivered=volume,
        events_by_type={"evaluations": evaluations, "custom_events": volume - evaluations},
        batches_dlq=dlq,
        latency_ms=rng.randint(5_000, 90_000),
        events_pending=0,
        bytes_delivered=volume * rng.randint(300, 500),
    )


@dataclass
class LiveFeed:
    """Writes each scheduled connection's source file for the slot ``now`` is in, once per slot,
    with the slot's volume (and the slot's poison line): what the backfill recorded, continued."""

    source_root: Path
    written: dict[str, datetime] = field(default_factory=dict)

    def feed(self, now: datetime) -> int:
        from pipepulse.loader.generator import generate_files

        slot = slot_start(now)
        files = 0
        for spec in CONNECTIONS:
            if not spec.fed or spec.state == "paused" or self.written.get(spec.key) == slot:
                continue
            generate_files(
                self.source_root,
                0,
                now=now,
                source_prefix=source_prefix(spec),
                hours=1,
                files_per_hour=1,
                events_per_file=slot_volume(spec.key, slot),
                poison=is_poison_slot(spec, slot),
                seed=int(slot.timestamp()),
            )
            self.written[spec.key] = slot
            files += 1
        return files


async def step(
    db: Database, settings: Settings, dispatcher: Dispatcher, feed: LiveFeed, now: datetime
) -> None:
    """The live demo's work at ``now`` in one go (for a watcher on an injected clock): feed the
    slot's files, tick the scheduler (seed, load, evaluate, notify), wait for the loads."""
    await asyncio.to_thread(feed.feed, now)
    await runner.tick(db, settings, dispatcher, now)
    await dispatcher.drain()


async def generate_events(settings: Settings, stop: asyncio.Event, now: Callable[[], datetime]) -> None:
    """Keep the scheduled connections' sources fed, one file per slot."""
    assert settings.loader_source_root is not None
    feed = LiveFeed(settings.loader_source_root)
    while not stop.is_set():
        await asyncio.to_thread(feed.feed, now())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=TICK_SECONDS / 2)


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
    if not settings.metrics_token:
        # So the printed Prometheus example shows the per-connection gauges.
        settings = settings.model_copy(update={"metrics_token": secrets.token_urlsafe(24)})
    asyncio.run(_main(settings, host, port))


async def _main(settings: Settings, host: str, port: int) -> None:
    clock = utc_now

    db = Database(create_engine(settings.resolved_database_url))
    # No PIPEPULSE_SECRET_KEY needed: the demo's channel secrets use the key in its data directory.
    channel_keys.install(settings)
    await ensure_schema(db, auto_migrate=settings.auto_migrate)
    typer.echo("pipepulse demo: building a week of history on the embedded SQLite database")
    with typer.progressbar(length=backfill_total(clock()), label="backfilling runs") as bar:
        handles = await build_history(db, clock(), progress=bar.update)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    app = create_app(settings, clock=clock, database=db, require_scheduler=True)
    server = _QuietServer(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    dispatcher = local_loader.build_dispatcher(settings, db, clock)

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
        await demo_alerts.set_up(session, owner, handles.organisation_id, receiver, clock())

    base_url = f"http://{host}:{port}"
    first = f"{base_url}/api/v1/organisations/{handles.organisation_id}/integrations/warehouse-connections/"
    typer.echo("")
    typer.secho(f"  Dashboard:   {base_url}/", bold=True)
    typer.echo(f"  API docs:    {base_url}/api/v1/docs")
    typer.secho(f"  Token:       {handles.token}", bold=True)
    typer.echo(f"  Service key: {handles.service_key}")
    typer.echo(f"  Try:         curl -H 'Authorization: Bearer {handles.token}' {first}")
    typer.echo(
        f"  Prometheus:  curl -H 'Authorization: Bearer {settings.metrics_token}' {base_url}/metrics"
        " | grep pipepulse_connection"
    )
    typer.echo(
        f"  Alerts:      {base_url}/orgs/{handles.organisation_id}/alerts/"
        f" (one rule covers every connection, one groups by condition, degraded alerts are silenced;"
        f" a webhook receiver on port {receiver.port} prints what it gets)"
    )
    typer.echo(f"  Data:        {settings.data_dir} (reset on every `pipepulse demo`)")
    typer.echo("")
    typer.echo(
        f"  The story (a run every {SCHEDULE_SECONDS // 60} min, as in the backfilled week,"
        " with the same volumes):"
    )
    for spec in CONNECTIONS:
        typer.echo(f"    {spec.name + ':':<22} {spec.story}")
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
