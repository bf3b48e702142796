"""The scheduler's rows of SPEC §6, each in a database of its own (dropped at the end).

- one tick seeding 10,000 due connections, as the running scheduler's seeding loop does it
  (claim + insert + hand-out with the seed-only dispatcher, since invoking loaders is the
  loaders' time, + heartbeat + outlook); evaluation, delivery, orphans and retention have
  loops of their own, and ``scheduler --once``, which runs every phase in sequence, is timed
  beside it for information;
- one evaluation pass (SPEC §7.3) over 10,000 connections with 26 hours of hourly runs: full
  passes reading every connection, then the alert loop's incremental passes with nothing
  changed. The first evaluations are let settle (untimed), as a running scheduler would have.

With ``--seed-only`` only the seeding phase of the tick is timed (every due connection
claimed and its pending run written, as the seeding loop does), with the statements it sends
and the CPU time of this process counted (wall time alone says little on a shared machine)
and, with ``--profile``, the top of its cProfile.

    python -m bench.jobs [--connections 10000] [--repeat 5] [--seed-only [--profile]]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import inspect
import io
import json
import pstats
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url

from bench import generate
from pipepulse.alerts import selection
from pipepulse.config import Settings
from pipepulse.db import migrate
from pipepulse.db.engine import create_engine
from pipepulse.db.session import Database
from pipepulse.scheduler import jobs as scheduler_jobs
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import NoDispatcher

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Where the evaluation pass of SPEC §7.3 is expected: an async function taking (some of) db,
# session, now, settings, thresholds, public_url by name, answering something with a
# ``deferred`` count (evaluations left for a later pass). Change it here if it moves.
EVALUATION_PASS = "pipepulse.alerts.evaluation:evaluate"


@dataclass(frozen=True)
class Timings:
    seconds: list[float]
    note: str = ""

    def summary(self) -> dict[str, Any]:
        if not self.seconds:
            return {"skipped": self.note}
        return {
            "median_s": round(statistics.median(self.seconds), 3),
            "min_s": round(min(self.seconds), 3),
            "max_s": round(max(self.seconds), 3),
            "n": len(self.seconds),
            "note": self.note,
        }


@asynccontextmanager
async def scratch_database(admin_url: str, connections: int) -> AsyncIterator[tuple[Database, str]]:
    """A migrated database of its own with ``connections`` connected connections in organisation 1."""
    admin = make_url(admin_url)
    name = f"pipepulse_bench_jobs_{uuid.uuid4().hex[:8]}"
    server = {"host": admin.host, "port": admin.port or 5432, "user": admin.username}
    conn = await asyncpg.connect(**server, database=admin.database)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = admin.set(database=name).render_as_string(hide_password=False)
    db = Database(create_engine(Settings(database_url=url).resolved_database_url))
    try:
        await migrate.upgrade(db.engine)
        raw = await asyncpg.connect(**server, database=name)
        now = datetime.now(UTC)
        await raw.execute(
            "INSERT INTO organisations (slug, name, created_at) VALUES ('bench', 'Bench', now())"
        )
        rows = generate.connection_rows("wc_", 1, connections, now)
        columns = list(rows[0])
        await raw.copy_records_to_table(
            "warehouse_connections",
            records=[
                tuple(json.dumps(r[c]) if c in ("config", "event_types") else r[c] for c in columns)
                for r in rows
            ],
            columns=columns,
        )
        await raw.execute("ANALYZE")
        await raw.close()
        yield db, url
    finally:
        await db.dispose()
        conn = await asyncpg.connect(**server, database=admin.database)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def scheduler_tick(connections: int, repeat: int, admin_url: str = ADMIN_URL) -> Timings:
    async with scratch_database(admin_url, connections) as (db, url):
        settings = Settings(database_url=url, dispatcher="none")
        now = datetime.now(UTC).replace(microsecond=0)
        seconds = []
        for i in range(repeat):
            started = time.perf_counter()
            result = await runner.tick(db, settings, NoDispatcher(), now + timedelta(seconds=300 * i))
            seconds.append(time.perf_counter() - started)
            assert result.seeded == connections, result
        return Timings(seconds, f"{connections:,} connections due: scheduler --once, every phase in turn")


async def seeding_tick(connections: int, repeat: int, admin_url: str = ADMIN_URL) -> Timings:
    """SPEC §6's tick: what the running scheduler's seeding loop does on each of its ticks
    (``runner.run_forever``): claim and seed every due connection, hand out the invocations (the
    seed-only dispatcher: invoking loaders is the loaders' time), beat, and read how many are
    still due and when the next slot comes. Evaluation, delivery, orphans and retention run in
    loops of their own, so they are not in it (see :func:`scheduler_tick`)."""
    async with scratch_database(admin_url, connections) as (db, _):
        now = datetime.now(UTC).replace(microsecond=0)
        seconds = []
        for i in range(repeat):
            at = now + timedelta(seconds=300 * i)
            started = time.perf_counter()
            seeded, fan_outs = await runner.seed_pass(
                db, NoDispatcher(), at, asyncio.Semaphore(runner.FAN_OUT_CONCURRENCY)
            )
            await asyncio.gather(*fan_outs)
            async with db.session(write=True) as session:
                await scheduler_jobs.beat(session, "bench", at, len(seeded))
            async with db.session() as session:
                await scheduler_jobs.due_outlook(session, at)
            seconds.append(time.perf_counter() - started)
            assert len(seeded) == connections, len(seeded)
        return Timings(seconds, f"{connections:,} connections due per tick: seed, hand out, beat, outlook")


async def seeding_pass(
    connections: int, repeat: int, admin_url: str = ADMIN_URL, *, profile: bool = False
) -> Timings:
    """Only the seeding phase of a tick: every due connection claimed and seeded (no fan-out:
    the seed-only dispatcher), with the statements it sends counted and optionally profiled."""
    async with scratch_database(admin_url, connections) as (db, _):
        statements = [0]

        def count(*_: Any) -> None:
            statements[0] += 1

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        now = datetime.now(UTC).replace(microsecond=0)
        seconds, cpu, per_pass = [], [], []
        profiler = cProfile.Profile() if profile else None
        for i in range(repeat):
            statements[0] = 0
            started, started_cpu = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            seeded, fan_outs = await runner.seed_pass(
                db,
                NoDispatcher(),
                now + timedelta(seconds=300 * i),
                asyncio.Semaphore(runner.FAN_OUT_CONCURRENCY),
            )
            if profiler is not None:
                profiler.disable()
            seconds.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            per_pass.append(statements[0])
            await asyncio.gather(*fan_outs)
            assert len(seeded) == connections, len(seeded)
        if profiler is not None:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
            print(out.getvalue())
        return Timings(
            seconds,
            f"{connections:,} connections due per pass, statements per pass {sorted(set(per_pass))},"
            f" scheduler CPU per pass median {statistics.median(cpu):.3f} s",
        )


def evaluation_pass() -> Callable[..., Awaitable[Any]] | None:
    module_name, _, attribute = EVALUATION_PASS.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None
    found = getattr(module, attribute, None)
    return found if callable(found) else None


async def evaluation(connections: int, repeat: int, admin_url: str = ADMIN_URL) -> tuple[Timings, Timings]:
    """Full passes (every connection read, nothing changed) and incremental ones."""
    found = evaluation_pass()
    if found is None:
        skipped = Timings([], f"not built yet ({EVALUATION_PASS} does not exist)")
        return skipped, skipped
    async with scratch_database(admin_url, connections) as (db, url):
        settings = Settings(database_url=url, dispatcher="none")
        now = datetime.now(UTC).replace(minute=20, second=0, microsecond=0)
        hours = 26  # a day for the status, and the same hour yesterday for the volume baseline
        start = now - timedelta(hours=hours, minutes=-5)
        raw = await asyncpg.connect(url, server_settings=generate.SESSION)
        try:
            await raw.execute(generate.RUNS_SQL, 0, hours + 1, start, hours + 1, 1, timedelta(hours=1))
            for sql in (generate.HOURLY_SQL, generate.EVENTS_SQL, generate.TIMES_SQL, generate.DAILY_SQL):
                await raw.execute(sql, 1)
            await raw.execute("VACUUM ANALYZE")
        finally:
            await raw.close()
        wanted = inspect.signature(found).parameters

        async def one_pass(at: datetime, tracker: selection.Tracker | None = None) -> Any:
            async with db.session(write=True) as session:
                offered = {
                    "session": session, "db": db, "now": at, "at": at, "settings": settings,
                    "thresholds": settings.thresholds, "public_url": getattr(settings, "public_url", ""),
                    "tracker": tracker,
                }  # fmt: skip
                return await found(**{k: v for k, v in offered.items() if k in wanted})

        # The first evaluation of every connection, untimed: a running scheduler did it long ago.
        for _ in range(1000):
            if not getattr(await one_pass(now), "deferred", 0):
                break
        seconds = []
        for i in range(repeat):
            started = time.perf_counter()
            await one_pass(now + timedelta(seconds=30 * (i + 1)))
            seconds.append(time.perf_counter() - started)
        full = Timings(seconds, f"{connections:,} connections, {hours} hours of hourly runs, every one read")
        # The scheduler's alert loop: after its tracker's full pass, passes in which no input
        # changed and no horizon passed visit nothing (SPEC §6: <= 0.2 s).
        tracker = selection.Tracker()
        await one_pass(now + timedelta(seconds=30 * (repeat + 1)), tracker)
        quiet = []
        for i in range(repeat):
            started = time.perf_counter()
            await one_pass(now + timedelta(seconds=30 * (repeat + 2 + i)), tracker)
            quiet.append(time.perf_counter() - started)
        return full, Timings(quiet, f"{connections:,} connections, incremental passes, nothing changed")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--seed-only", action="store_true", help="time only the seeding phase of the tick")
    parser.add_argument("--profile", action="store_true", help="with --seed-only: print its cProfile top")
    args = parser.parse_args()
    if args.seed_only:
        seeding = seeding_pass(args.connections, args.repeat, args.admin_url, profile=args.profile)
        print("seeding pass:", asyncio.run(seeding).summary())
        return
    tick = asyncio.run(seeding_tick(args.connections, args.repeat, args.admin_url))
    print("scheduler tick (seeding loop):", tick.summary())
    once = asyncio.run(scheduler_tick(args.connections, args.repeat, args.admin_url))
    print("scheduler --once:", once.summary())
    full, quiet = asyncio.run(evaluation(args.connections, args.repeat, args.admin_url))
    print("evaluation pass, every connection read:", full.summary())
    print("evaluation pass, incremental, nothing changed:", quiet.summary())


if __name__ == "__main__":
    main()
