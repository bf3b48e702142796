"""SPEC §6 measured over HTTP: ``pipepulse serve`` beside the floor app, driven by wrk.

Run ``python -m bench.generate`` first (twice: the 30-day history and the 60-day one). The
driver starts the floor app (``bench/floor.py``) and ``pipepulse serve``, one uvicorn worker
each, on the same database, and measures every row on both, one after the other, so each
figure has its ratio to the floor measured minutes apart on the same machine:

- sequential reads (wrk, 1 thread, 1 connection: p50 / p99) on a random connection each time;
- saturated telemetry reads, single reports (PATCH, a distinct seeded run per request) and
  batch reports (500 a request) at 32 / 32 / 8 connections with 2 wrk threads;
- peak server memory, the scheduler tick and the evaluation pass (``bench/jobs.py``);
- every read again on the 60-day history (the growth check: within 1.2x of the 30-day one).

Writes go to a third organisation of empty connections, whose runs and rollups are checked
(each report counted exactly once) and deleted afterwards, so the histories stay as generated.

    python -m bench.driver                              # prints the tables, writes bench/results.json
    python -m bench.driver --write-docs                 # and replaces the results in docs/benchmarks.md
    python -m bench.driver --render --write-docs        # the last results again, after a target changed
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx

from bench import jobs, same_work
from bench.generate import state_path
from bench.ingest import clear_ingest, seed

HERE = Path(__file__).parent
WRK_DIR = HERE / "wrk"
RESULTS = HERE / "results.json"
# SPEC §6.
BATCH_TARGET = "≥ 30,000 reports/s and ≥ ½ of the same-work floor"
DOCS = HERE.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
CONN = "/api/v1/organisations/{org}/integrations/warehouse-connections/{cid}"
BATCH_SIZE = 500
ALL_PHASES = "reads,throughput,writes,jobs,growth"


def zulu(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Processes ---------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """wrk from Debian's package, installed when missing (the load generator of SPEC §6)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("wrk is missing: install Debian's package (apt-get install wrk) and run again")
    print("installing wrk (Debian package)…", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get installed wrk but it is not on PATH")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen[bytes]


def log_file(name: str) -> IO[bytes]:
    """Where a server's own error output goes (e.g. a failing request's traceback)."""
    path = Path(tempfile.gettempdir()) / f"pipepulse-bench-{name}.log"
    return path.open("ab")


def start_pipepulse(database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PIPEPULSE_DATABASE_URL": database_url, "PIPEPULSE_LOG_LEVEL": "WARNING"}
    exe = Path(sys.executable).with_name("pipepulse")
    command = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log_file("pipepulse"))


def start_floor(database_url: str, port: int, same_work: Path | None = None) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.floor", "--database-url", database_url, "--port", str(port)]
    if same_work is not None:
        command += ["--same-work", str(same_work)]
    name = "same-work" if same_work is not None else "floor"
    return subprocess.Popen(command, cwd=HERE.parent, stdout=subprocess.DEVNULL, stderr=log_file(name))


def wait_ready(server: Server, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited with {server.process.returncode} before it was ready")
        try:
            if httpx.get(f"{server.base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{server.name} did not become ready within {within:.0f} s")


@contextmanager
def servers(database_url: str, same_work: Path) -> Iterator[tuple[Server, Server, Server]]:
    """The minimal floor, the same-work floor (replaying ``same_work``, bench/same_work.py) and
    pipepulse, all on ``database_url``, stopped on the way out."""
    floor_port, same_port, app_port = free_port(), free_port(), free_port()
    floor = Server("floor", f"http://127.0.0.1:{floor_port}", start_floor(database_url, floor_port))
    same = Server(
        "same-work", f"http://127.0.0.1:{same_port}", start_floor(database_url, same_port, same_work)
    )
    app = Server("pipepulse", f"http://127.0.0.1:{app_port}", start_pipepulse(database_url, app_port))
    try:
        wait_ready(floor)
        wait_ready(same)
        wait_ready(app)
        yield floor, same, app
    finally:
        for server in (app, same, floor):
            server.process.terminate()
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()


class RssSampler(threading.Thread):
    """Peak resident memory of a process, sampled every 100 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except OSError:
                return


# --- wrk ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """One wrk invocation: a script, its arguments, threads x connections for some seconds."""

    script: str
    args: list[str]
    threads: int = 1
    connections: int = 1
    seconds: float = 10
    secret: str = ""  # left out of the printed command

    def command(self, wrk: str, base: str, path_args: list[str] | None = None) -> list[str]:
        args = path_args if path_args is not None else self.args
        return [
            wrk,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{self.seconds:g}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            self.script,
            base,
            "--",
            *args,
        ]

    def shown(self, base: str) -> str:
        args = ["$TOKEN" if a == self.secret else a for a in self.args]
        return " ".join(self.command("wrk", base, args))


def run_wrk(wrk: str, base: str, load: Load) -> dict[str, Any]:
    done = subprocess.run(
        load.command(wrk, base), cwd=WRK_DIR, capture_output=True, text=True, timeout=load.seconds + 120
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    out: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = out["duration_us"] / 1e6
    out.update(
        rps=round(out["requests"] / seconds, 1),
        p50_ms=round(out["p50_us"] / 1000, 2),
        p99_ms=round(out["p99_us"] / 1000, 2),
        errors=out["status_errors"] + out["socket_errors"] + out["timeouts"],
        exhausted="BENCH_EXHAUSTED" in done.stdout,
        command=load.shown(base),
    )
    return out


# --- What is measured -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One operation: the same load against the floor and pipepulse."""

    key: str
    title: str
    load: Callable[[dict[str, Any], float], Load]
    kind: str  # "latency" (sequential) or "throughput"


def read(path: str, id_format: str, count: int, token: str, seconds: float, **kw: Any) -> Load:
    return Load("read.lua", [path, id_format, str(count), token], seconds=seconds, secret=token, **kw)


def reads(now: datetime) -> list[Row]:
    since_7d, since_30d = zulu(now - timedelta(days=7)), zulu(now - timedelta(days=30))

    def conn(state: dict[str, Any], org_key: str = "organisation_id") -> str:
        return CONN.format(org=state[org_key], cid="%s")

    def big(state: dict[str, Any], path: str, seconds: float) -> Load:
        n = len(state["connection_ids"])
        return read(conn(state) + path, state["connection_id_format"], n, state["reader"], seconds)

    return [
        Row("telemetry", "`GET …/telemetry/`", lambda s, t: big(s, "/telemetry/", t), "latency"),
        Row(
            "telemetry_small",
            "`GET …/telemetry/`, 10-run connection",
            lambda s, t: read(
                conn(s, "small_organisation_id") + "/telemetry/", s["small_connection_id"], 1, s["reader"], t
            ),
            "latency",
        ),
        Row(
            "bulk_latest_500",
            "bulk `latest`, 500 connections",
            lambda s, t: Load(
                "bulk.lua",
                [
                    "/api/v1/telemetry/metrics/?size=500",
                    s["connection_id_format"],
                    str(len(s["connection_ids"])),
                    str(500),
                    s["reader"],
                ],
                seconds=t,
                secret=s["reader"],
            ),
            "latency",
        ),
        Row(
            "health_30d",
            "organisation health, 30 days, 1,000 connections",
            lambda s, t: read(
                f"/api/v1/organisations/{s['organisation_id']}/integration-health/?days=30",
                "-",
                1,
                s["reader"],
                t,
            ),
            "latency",
        ),
        Row(
            "timeseries_7d",
            "`timeseries`, 7 days hourly",
            lambda s, t: big(
                s, f"/telemetry/metrics/?time_type=timeseries&time_unit=hour&timestamp_from={since_7d}", t
            ),
            "latency",
        ),
        Row(
            "status_history_30d",
            "`status-history`, 30 days, one connection",
            lambda s, t: big(s, f"/status-history/?from={since_30d}&to={zulu(now)}", t),
            "latency",
        ),
    ]


def telemetry_throughput(state: dict[str, Any], seconds: float) -> Load:
    path = CONN.format(org=state["organisation_id"], cid="%s") + "/telemetry/"
    n = len(state["connection_ids"])
    return read(path, state["connection_id_format"], n, state["reader"], seconds, threads=2, connections=32)


INGEST_COUNTS = """
SELECT (SELECT count(*) FROM runs
        WHERE organisation_id = $1 AND completed_at IS NOT NULL
          AND EXISTS (SELECT 1 FROM unnest($2::text[]) AS p WHERE starts_with(id, p))),
       (SELECT coalesce(sum(runs), 0) FROM run_hourly_rollups WHERE organisation_id = $1),
       (SELECT coalesce(sum(events_delivered), 0) FROM run_hourly_rollups WHERE organisation_id = $1),
       (SELECT coalesce(sum(runs), 0) FROM run_daily_rollups WHERE organisation_id = $1),
       (SELECT coalesce(sum(events), 0) FROM event_hourly_rollups WHERE organisation_id = $1)
"""


async def ingest_counts(dsn: str, state: dict[str, Any], prefixes: list[str]) -> dict[str, int]:
    """What the writes left: completed runs by the given prefixes, and what the rollups counted.

    One statement, so one snapshot; read until it stops changing, since reports wrk sent
    just before it stopped may still be in the server's hands.
    """
    conn = await asyncpg.connect(dsn)
    try:
        last = None
        while True:
            row = tuple(
                int(v) for v in await conn.fetchrow(INGEST_COUNTS, state["ingest_organisation_id"], prefixes)
            )
            if row == last:
                break
            last = row
            await asyncio.sleep(2)
        names = ("completed_runs", "hourly_runs", "hourly_events", "daily_runs", "typed_events")
        return dict(zip(names, row, strict=True))
    finally:
        await conn.close()


def has_route(server: Server, path: str) -> bool:
    try:
        spec = httpx.get(f"{server.base}/api/v1/openapi.json", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return False
    return path in spec.get("paths", {})


STATUS_HISTORY_ROUTE = (
    "/api/v1/organisations/{organisation_pk}/integrations/warehouse-connections/{connection_id}"
    "/status-history/"
)
BATCH_ROUTE = "/api/v1/runs/reports/"


def held_answers(state: dict[str, Any], server: Server, seconds: float) -> None:
    """Measure the telemetry row over answers that hold, as a read of an unchanged fleet does.

    The generated histories end with a run every 5 minutes on every connection alike, so all
    their stored answers change at once, at the next run's 24-hour edge: a row measured across
    that instant measures 1,000 answers computed again (≈ 15 ms each), not the read. So: read
    every connection once (which computes and stores whatever changed) and, when the next such
    instant falls within the row, wait for it to pass and read them again.
    """

    async def next_change() -> datetime | None:
        conn = await asyncpg.connect(state["database_url"])
        try:
            found: datetime | None = await conn.fetchval(
                "SELECT min(valid_until) FROM status_snapshots"
                " WHERE organisation_id = $1 AND valid_until > now()",
                state["organisation_id"],
            )
            return found
        finally:
            await conn.close()

    url = CONN.format(org=state["organisation_id"], cid="{}") + "/telemetry/"
    headers = {"Authorization": f"Bearer {state['reader']}"}
    for _ in range(3):
        with httpx.Client(base_url=server.base, headers=headers, timeout=60) as client:
            for connection_id in state["connection_ids"]:
                client.get(url.format(connection_id)).raise_for_status()
        change = asyncio.run(next_change())
        wait = (change - datetime.now(UTC)).total_seconds() if change is not None else None
        if wait is None or wait > seconds + 30:
            return
        print(f"  (waiting {max(wait, 0) + 2:.0f} s for the stored answers' next change)", flush=True)
        time.sleep(max(wait, 0) + 2)


def measure_reads(
    wrk: str,
    trio: tuple[Server, Server, Server],
    state: dict[str, Any],
    args: argparse.Namespace,
    now: datetime,
) -> dict[str, Any]:
    app = trio[2]
    out: dict[str, Any] = {}
    for row in reads(now):
        if row.key == "status_history_30d" and not has_route(app, STATUS_HISTORY_ROUTE):
            out[row.key] = {"skipped": "not built yet (pipepulse has no GET …/status-history/)"}
            print(f"  {row.key}: not built yet", flush=True)
            continue
        load = row.load(state, args.seconds)
        result: dict[str, Any] = {}
        for server in trio:
            if server is app and row.key == "telemetry":
                held_answers(state, server, args.warmup + args.seconds)
            if args.warmup:
                run_wrk(wrk, server.base, row.load(state, args.warmup))
            result[server.name] = run_wrk(wrk, server.base, load)
        out[row.key] = result
        print(
            f"  {row.key}: pipepulse p50 {result['pipepulse']['p50_ms']} ms, "
            f"floor {result['floor']['p50_ms']} ms, same-work {result['same-work']['p50_ms']} ms",
            flush=True,
        )
    return out


def brief(result: dict[str, Any]) -> str:
    return "; ".join(
        f"{name} {m['rps']}/s p50 {m['p50_ms']} ms p99 {m['p99_ms']} ms errors {m['errors']}"
        + (" (ran out of seeded runs)" if m["exhausted"] else "")
        for name, m in result.items()
    )


def measure_writes(
    wrk: str, trio: tuple[Server, Server, Server], state: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """PATCH, then batches, each on the two floors and then pipepulse. The same-work floor keeps
    the rollups as pipepulse does, so the store is cleared before pipepulse's turn and
    pipepulse's reports are checked (each counted exactly once) after it."""
    floor, same, app = trio
    checks: list[dict[str, int]] = []
    dsn = state["database_url"]
    stamp = int(time.time())
    key = state["service_key"]
    out: dict[str, Any] = {}
    started = datetime.now(UTC) - timedelta(minutes=1)
    completed = zulu(datetime.now(UTC))
    org, fmt, n = (
        str(state["ingest_organisation_id"]),
        state["ingest_connection_id_format"],
        state["ingest_connections"],
    )
    try:
        # Single reports: PATCH, a distinct seeded run with every request.
        result: dict[str, Any] = {}
        for server, cap in (
            (floor, args.floor_report_cap),
            (same, args.floor_report_cap),
            (app, args.report_cap),
        ):
            if server is app:
                asyncio.run(clear_ingest(dsn, state))
            prefix = f"{server.name[0]}r{stamp}_"
            count = int(cap * args.write_seconds)
            asyncio.run(seed(dsn, state, prefix, count, started))
            asyncio.run(checkpoint(dsn))
            load = Load(
                "report.lua",
                [org, fmt, str(n), prefix, str(count), "2", completed, key],
                threads=2,
                connections=32,
                seconds=args.write_seconds,
                secret=key,
            )
            result[server.name] = run_wrk(wrk, server.base, load)
            if server is app:
                checks.append(asyncio.run(ingest_counts(dsn, state, [prefix])))
        out["patch"] = result
        print(
            f"  patch: pipepulse {result['pipepulse']['rps']}/s, floor {result['floor']['rps']}/s", flush=True
        )

        # Batch reports: 500 distinct seeded runs a request.
        if not has_route(app, BATCH_ROUTE):
            out["batch"] = {"skipped": "not built yet (pipepulse has no POST /api/v1/runs/reports/)"}
        else:
            result = {}
            for server, cap in (
                (floor, args.floor_batch_cap),
                (same, args.floor_batch_cap),
                (app, args.batch_cap),
            ):
                if server is app:
                    asyncio.run(clear_ingest(dsn, state))
                prefix = f"{server.name[0]}b{stamp}_"
                count = int(cap * args.batch_seconds)
                asyncio.run(seed(dsn, state, prefix, count, started))
                asyncio.run(checkpoint(dsn))
                load = Load(
                    "batch.lua",
                    [org, fmt, str(n), prefix, str(count), "2", completed, str(BATCH_SIZE), key],
                    threads=2,
                    connections=8,
                    seconds=args.batch_seconds,
                    secret=key,
                )
                result[server.name] = run_wrk(wrk, server.base, load)
                result[server.name]["reports_per_s"] = round(result[server.name]["rps"] * BATCH_SIZE)
                if server is app:
                    checks.append(asyncio.run(ingest_counts(dsn, state, [prefix])))
            out["batch"] = result
            print(f"  batch: {brief(result)}", flush=True)
        out["ingest_check"] = {k: sum(c[k] for c in checks) for k in checks[0]} if checks else {}
    finally:
        if not args.keep_writes:
            asyncio.run(clear_ingest(dsn, state))
    return out


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": "wrk " + wrk_version.split()[1],
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


async def prewarm(dsn: str) -> dict[str, Any]:
    """Read every table and index of the history into memory, as on a machine that serves it
    (a history generated or measured before may have pushed it out of the page cache)."""
    conn = await asyncpg.connect(dsn)
    began = time.monotonic()
    try:
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        except asyncpg.PostgresError as exc:
            return {"skipped": f"pg_prewarm unavailable: {exc}"}
        blocks = await conn.fetchval(
            "SELECT sum(pg_prewarm(c.oid, 'read')) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')"
        )
        return {"blocks": int(blocks or 0), "seconds": round(time.monotonic() - began, 1)}
    finally:
        await conn.close()


async def checkpoint(dsn: str) -> None:
    """Write out what seeding dirtied, so no checkpoint falls inside the measured seconds."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def postgres_info(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            "version": (await conn.fetchval("SHOW server_version")),
            "shared_buffers": await conn.fetchval("SHOW shared_buffers"),
            "synchronous_commit": await conn.fetchval("SHOW synchronous_commit"),
            "runs": await conn.fetchval("SELECT count(*) FROM runs"),
        }
    finally:
        await conn.close()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    wrk = ensure_wrk()
    state = json.loads(state_path(args.database).read_text())
    results: dict[str, Any] = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    results["machine"] = machine()
    results["postgres"] = asyncio.run(postgres_info(state["database_url"]))
    now = datetime.now(UTC)
    phases = set(args.phases.split(","))
    print(f"30-day history ({args.database}):", flush=True)
    results["prewarm"] = asyncio.run(prewarm(state["database_url"]))
    print("capturing pipepulse's statements for the same-work floor…", flush=True)
    captured = Path(tempfile.gettempdir()) / f"pipepulse-same-work-{args.database}.json"
    captured.write_text(json.dumps(asyncio.run(same_work.capture(state))))
    with servers(state["database_url"], captured) as trio:
        app = trio[2]
        rss = RssSampler(app.process.pid)
        rss.start()
        if "reads" in phases:
            results["reads_30d"] = measure_reads(wrk, trio, state, args, now)
        if "throughput" in phases:
            results["telemetry_throughput"] = throughput(wrk, trio, state, args)
        if "writes" in phases:
            results.update(measure_writes(wrk, trio, state, args))
        rss.stopped.set()
        results["rss_peak_mb"] = round(rss.peak_kb / 1024, 1)
    if "jobs" in phases:
        print("scheduler jobs:", flush=True)
        results["scheduler_tick"] = asyncio.run(jobs.seeding_tick(args.tick_connections, 5)).summary()
        results["scheduler_once"] = asyncio.run(jobs.scheduler_tick(args.tick_connections, 5)).summary()
        full, quiet = asyncio.run(jobs.evaluation(args.tick_connections, 5))
        results["evaluation_pass"], results["evaluation_quiet"] = full.summary(), quiet.summary()
    if args.database_60d and "growth" in phases:
        state_60d = json.loads(state_path(args.database_60d).read_text())
        results["postgres_60d"] = asyncio.run(postgres_info(state_60d["database_url"]))
        print(f"60-day history ({args.database_60d}):", flush=True)
        results["prewarm_60d"] = asyncio.run(prewarm(state_60d["database_url"]))
        captured_60d = Path(tempfile.gettempdir()) / f"pipepulse-same-work-{args.database_60d}.json"
        captured_60d.write_text(json.dumps(asyncio.run(same_work.capture(state_60d))))
        with servers(state_60d["database_url"], captured_60d) as trio:
            results["reads_60d"] = measure_reads(wrk, trio, state_60d, args, now)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["arguments"] = " ".join(sys.argv[1:])
    return results


def throughput(
    wrk: str, trio: tuple[Server, Server, Server], state: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    result = {}
    for server in trio:
        if server is trio[2]:  # pipepulse: over answers that hold, as the sequential row
            held_answers(state, server, args.throughput_seconds)
        result[server.name] = run_wrk(wrk, server.base, telemetry_throughput(state, args.throughput_seconds))
    print(
        f"  telemetry throughput: pipepulse {result['pipepulse']['rps']}/s, floor {result['floor']['rps']}/s",
        flush=True,
    )
    return result


# --- The report -----------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def tables(r: dict[str, Any]) -> str:
    reads30 = r["reads_30d"]
    rows: list[tuple[str, ...]] = []

    def latency_row(key: str, title: str, target: str, check: Callable[[dict[str, Any]], bool]) -> None:
        m = reads30.get(key, {})
        if "skipped" in m:
            rows.append((title, target, m["skipped"], "—", "—", "—", "—", "—"))
            return
        app, floor, same = m["pipepulse"], m["floor"], m.get("same-work")
        rows.append(
            (
                title,
                target,
                f"p50 {app['p50_ms']} ms, p99 {app['p99_ms']} ms",
                f"p50 {floor['p50_ms']} ms",
                f"p50 {same['p50_ms']} ms" if same else "—",
                f"{app['p50_ms'] / floor['p50_ms']:.1f}x",
                f"{app['p50_ms'] / same['p50_ms']:.1f}x" if same else "—",
                verdict(check(app)),
            )
        )

    def same_fraction(m: dict[str, Any], key: str = "rps") -> float:
        same = m.get("same-work")
        return m["pipepulse"][key] / same[key] if same else 0.0

    def same_ratio(m: dict[str, Any], key: str = "rps") -> tuple[str, str]:
        same = m.get("same-work")
        if not same:
            return "—", "—"
        return f"{_fmt(same[key])}/s", f"{m['pipepulse'][key] / same[key]:.2f}"

    t, small = reads30["telemetry"]["pipepulse"], reads30["telemetry_small"]["pipepulse"]
    latency_row(
        "telemetry",
        "`GET …/telemetry/`, sequential",
        "p50 ≤ 2 ms, p99 ≤ 10 ms",
        lambda a: a["p50_ms"] <= 2 and a["p99_ms"] <= 10,
    )
    history_ratio = t["p50_ms"] / small["p50_ms"]
    rows.append(
        (
            "`GET …/telemetry/`, 8,640 runs vs 10 runs",
            "≤ 1.2x",
            f"p50 {t['p50_ms']} vs {small['p50_ms']} ms",
            "—",
            "—",
            f"{history_ratio:.2f}x",
            "—",
            verdict(history_ratio <= 1.2),
        )
    )
    tp = r["telemetry_throughput"]
    tp_ratio = tp["pipepulse"]["rps"] / tp["floor"]["rps"]
    rows.append(
        (
            "`GET …/telemetry/`, saturated (32 connections)",
            "≥ ½ of the minimal floor",
            f"{_fmt(tp['pipepulse']['rps'])}/s, p99 {tp['pipepulse']['p99_ms']} ms",
            f"{_fmt(tp['floor']['rps'])}/s",
            same_ratio(tp)[0],
            f"{tp_ratio:.2f}",
            same_ratio(tp)[1],
            verdict(tp_ratio >= 1 / 2),
        )
    )
    p = r["patch"]
    app, floor = p["pipepulse"], p["floor"]
    ratio = app["rps"] / floor["rps"]
    rows.append(
        (
            "`PATCH …/metrics/{run_id}/` (32 connections)",
            "≥ 1,500/s, ≥ ⅓ of the minimal and ≥ ½ of the same-work floor, p99 ≤ 50 ms, no errors",
            f"{_fmt(app['rps'])}/s, p50 {app['p50_ms']} ms, p99 {app['p99_ms']} ms, {app['errors']} errors"
            + (" (ran out of seeded runs: a lower bound)" if app["exhausted"] else ""),
            f"{_fmt(floor['rps'])}/s (one UPDATE)",
            same_ratio(p)[0],
            f"{ratio:.2f}",
            same_ratio(p)[1],
            verdict(
                app["rps"] >= 1500
                and ratio >= 1 / 3
                and same_fraction(p) >= 1 / 2
                and app["p99_ms"] <= 50
                and app["errors"] == 0
            ),
        )
    )
    b = r["batch"]
    if "skipped" in b:
        rows.append(("batch reports, 500 a request", BATCH_TARGET, b["skipped"], *["—"] * 5))
    else:
        app, floor = b["pipepulse"], b["floor"]
        rows.append(
            (
                "batch reports, 500 a request (8 connections)",
                BATCH_TARGET,
                f"{_fmt(app['reports_per_s'])} reports/s, p50 {app['p50_ms']} ms, {app['errors']} errors",
                f"{_fmt(floor['reports_per_s'])} reports/s (one UPDATE … FROM unnest)",
                same_ratio(b, "reports_per_s")[0],
                f"{app['reports_per_s'] / floor['reports_per_s']:.2f}",
                same_ratio(b, "reports_per_s")[1],
                verdict(app["reports_per_s"] >= 30_000 and same_fraction(b, "reports_per_s") >= 1 / 2),
            )
        )
    for key, title, limit in (
        # The seeding loop's tick, as the running scheduler repeats it (bench/jobs.py).
        ("scheduler_tick", "one scheduler tick seeding 10,000 connections", 1.0),
        # `scheduler --once`: seeding, orphans, a full evaluation, groups, delivery and
        # retention in turn — for information, no target of its own.
        ("scheduler_once", "`scheduler --once` over 10,000 due connections, every phase in turn", None),
        # A full pass reads every connection, as when all of them changed.
        ("evaluation_pass", "one evaluation pass over 10,000 connections, all changed", 2.0),
        ("evaluation_quiet", "one evaluation pass over 10,000 connections, nothing changed", 0.2),
    ):
        job = r.get(key)
        target = "—" if limit is None else f"≤ {limit:g} s"
        if job is None or "skipped" in job:
            rows.append((title, target, "not measured" if job is None else job["skipped"], *["—"] * 5))
        else:
            rows.append(
                (
                    title,
                    target,
                    f"median {job['median_s']} s (min {job['min_s']}, max {job['max_s']})",
                    *["—"] * 4,
                    "information" if limit is None else verdict(job["median_s"] <= limit),
                )
            )
    latency_row(
        "bulk_latest_500", "bulk `latest`, 500 connections", "p50 ≤ 50 ms", lambda a: a["p50_ms"] <= 50
    )
    latency_row(
        "health_30d",
        "organisation health, 30 days, 1,000 connections",
        "p50 ≤ 25 ms",
        lambda a: a["p50_ms"] <= 25,
    )
    latency_row("timeseries_7d", "`timeseries`, 7 days hourly", "p99 ≤ 20 ms", lambda a: a["p99_ms"] <= 20)
    latency_row(
        "status_history_30d",
        "`status-history`, 30 days, one connection",
        "p50 ≤ 20 ms",
        lambda a: a["p50_ms"] <= 20,
    )
    rows.append(
        (
            "server memory under that load",
            "≤ 200 MB RSS",
            f"peak {r['rss_peak_mb']} MB",
            *["—"] * 4,
            verdict(r["rss_peak_mb"] <= 200),
        )
    )
    out = [
        "| operation | target | pipepulse | minimal floor | same-work floor | ratio to minimal | "
        "ratio to same-work | |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
    ]
    if "reads_60d" in r:
        out += [
            "",
            "| read (p50) | 30-day history | 60-day history | 60 / 30 | within 1.2x |",
            "|---|---|---|---|---|",
        ]
        for row in reads(datetime.now(UTC)):
            a, b60 = reads30.get(row.key, {}), r["reads_60d"].get(row.key, {})
            if "skipped" in a or "skipped" in b60:
                out.append(f"| {row.title} | {a.get('skipped', '—')} | — | — | — |")
                continue
            x, y = a["pipepulse"]["p50_ms"], b60["pipepulse"]["p50_ms"]
            out.append(f"| {row.title} | {x} ms | {y} ms | {y / x:.2f} | {verdict(y / x <= 1.2)} |")
    check = r.get("ingest_check")
    if check:
        out += [
            "",
            "Exactly once: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in check.items()) + ".",
        ]
    return "\n".join(out)


def commands(r: dict[str, Any]) -> str:
    lines = []
    for section in ("reads_30d",):
        for key, m in r[section].items():
            if "pipepulse" in m:
                lines.append(f"{key}: {m['pipepulse']['command']}")
    for key in ("telemetry_throughput", "patch", "batch"):
        m = r.get(key, {})
        if "pipepulse" in m:
            lines.append(f"{key}: {m['pipepulse']['command']}")
    return "\n".join(lines)


def report(r: dict[str, Any]) -> str:
    m, pg = r["machine"], r["postgres"]
    return "\n".join(
        [
            f"Measured {r['measured_at']} by `python -m bench.driver {r['arguments']}`.",
            "",
            f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Linux {m['kernel']}, "
            f"Python {m['python']}, {m['wrk']}; PostgreSQL {pg['version']} on the same machine "
            f"(shared_buffers {pg['shared_buffers']}, synchronous_commit {pg['synchronous_commit']}), "
            f"{pg['runs']:,} runs in the 30-day history"
            + (f", {r['postgres_60d']['runs']:,} in the 60-day one" if "postgres_60d" in r else "")
            + ". Each history was read into memory first (pg_prewarm: "
            + ", ".join(
                f"{w.get('seconds', '—')} s" for w in (r.get("prewarm", {}), r.get("prewarm_60d", {})) if w
            )
            + f"). Load average {m['load_average_at_start']} at the start, "
            f"{m['load_average_at_end']} at the end "
            "(other work shares the two cores).",
            "",
            tables(r),
            "",
            "The wrk commands (pipepulse's port; both floors ran the same against their own):",
            "",
            "```",
            commands(r),
            "```",
        ]
    )


def write_docs(text: str) -> None:
    doc = DOCS.read_text()
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{DOCS} has no {BEGIN} … {END} section to replace")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOCS.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="pipepulse_bench", help="The 30-day history (bench.generate).")
    parser.add_argument("--database-60d", default="pipepulse_bench_60d", help="The 60-day one; '' to skip.")
    parser.add_argument("--seconds", type=float, default=8, help="Each sequential read, per server.")
    parser.add_argument("--warmup", type=float, default=2, help="Unmeasured seconds before each read.")
    parser.add_argument("--throughput-seconds", type=float, default=15)
    parser.add_argument("--write-seconds", type=float, default=15, help="Each PATCH phase.")
    parser.add_argument("--batch-seconds", type=float, default=10, help="Each batch phase.")
    parser.add_argument("--report-cap", type=float, default=6_000, help="Runs seeded per second of PATCH.")
    parser.add_argument("--floor-report-cap", type=float, default=12_000)
    parser.add_argument("--batch-cap", type=float, default=30_000, help="Runs seeded per second of batches.")
    parser.add_argument("--floor-batch-cap", type=float, default=50_000)
    parser.add_argument("--tick-connections", type=int, default=10_000)
    parser.add_argument("--write-docs", action="store_true", help=f"Replace the results in {DOCS.name}.")
    parser.add_argument("--phases", default=ALL_PHASES, help="A subset, for working on one row.")
    parser.add_argument("--keep-writes", action="store_true", help="Leave the reported runs for inspection.")
    parser.add_argument(
        "--render",
        action="store_true",
        help=f"Measure nothing: report {RESULTS.name} again (after a target changed).",
    )
    args = parser.parse_args()

    if args.render:
        results = json.loads(RESULTS.read_text())
    else:
        results = measure(args)
        RESULTS.write_text(json.dumps(results, indent=1))
    if args.phases != ALL_PHASES:
        # A partial run (working on one row): the figures as measured, no report.
        print(json.dumps(results, indent=1))
        return
    text = report(results)
    print(text)
    if args.write_docs:
        write_docs(text)
        print(f"written to {DOCS}")


if __name__ == "__main__":
    main()
