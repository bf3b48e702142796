"""Measure SPEC §6 over HTTP against a real ``pipepulse serve`` process, with a naive baseline.

Run ``python -m bench.generate`` first. The driver starts the server on loopback with the
generated database, measures each operation of SPEC §6 (sequential requests: p50 / p99;
PATCH: concurrent clients, sustained throughput), samples the server's RSS throughout,
and, side by side, times the naive variant of each read: the same numbers computed by
one SQL statement straight from the raw runs, without rollups. The naive variant skips
HTTP, authentication and JSON entirely, so the measured speed-up is a lower bound.

    python -m bench.driver                        # writes bench/results.json and prints the table
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.generate import STATE

RESULTS = Path(__file__).with_name("results.json")


def zulu(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": round(percentile(samples_ms, 0.50), 2),
        "p99_ms": round(percentile(samples_ms, 0.99), 2),
        "mean_ms": round(statistics.fmean(samples_ms), 2),
    }


class RssSampler(threading.Thread):
    """Peak resident memory of the server process (and any worker children)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.stopped = threading.Event()

    def _pids(self) -> list[int]:
        pids = [self.pid]
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
            pids += [int(c) for c in children]
        except OSError:
            pass
        return pids

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            total = 0
            for pid in self._pids():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
                except OSError:
                    continue
            self.peak_kb = max(self.peak_kb, total)


async def timed(call: Callable[[], Awaitable[Any]], n: int, warmup: int = 10) -> tuple[list[float], Any]:
    last = None
    for _ in range(warmup):
        last = await call()
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        last = await call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples, last


def ok(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 300:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response


NAIVE_TELEMETRY = """
SELECT count(*) FILTER (WHERE completed_at > now() - interval '24 hours'),
       sum(events_delivered) FILTER (WHERE completed_at > now() - interval '24 hours'),
       sum(events_delivered),
       sum((events_by_type->>'evaluations')::bigint),
       sum(batches_dlq) FILTER (WHERE completed_at > now() - interval '24 hours'),
       count(*) FILTER (WHERE outcome IN ('partial', 'failed') AND completed_at > now() - interval '24 hours')
FROM runs WHERE connection_id = $1 AND completed_at > now() - interval '7 days' AND completed_at <= now()
"""
NAIVE_BULK = """
SELECT connection_id, count(*), sum(events_delivered), sum(batches_dlq),
       count(*) FILTER (WHERE outcome = 'succeeded'),
       max(completed_at) FILTER (WHERE events_delivered > 0),
       sum((events_by_type->>'evaluations')::bigint)
FROM runs
WHERE connection_id = ANY($1) AND completed_at >= now() - interval '24 hours' AND completed_at < now()
GROUP BY connection_id
"""
NAIVE_HEALTH = """
SELECT c.integration_type, count(*), count(*) FILTER (WHERE r.outcome = 'succeeded'),
       count(*) FILTER (WHERE r.outcome <> 'succeeded'), max(r.completed_at)
FROM runs r JOIN warehouse_connections c ON c.id = r.connection_id
WHERE c.organisation_id = $1 AND r.completed_at > $2 AND r.completed_at <= $3
GROUP BY c.integration_type
"""
NAIVE_TIMESERIES = """
SELECT date_trunc('hour', completed_at) AS hour, count(*), sum(events_delivered), sum(batches_dlq),
       avg(coalesce(latency_ms, 0))
FROM runs WHERE connection_id = $1 AND completed_at >= $2 AND completed_at < $3
GROUP BY 1 ORDER BY 1
"""


async def seed_pending(dsn: str, state: dict[str, Any], count: int) -> list[tuple[str, str]]:
    """Pending runs for the PATCH phase, spread over the big organisation's connections."""
    conn = await asyncpg.connect(dsn)
    started = datetime.now(UTC) - timedelta(minutes=1)
    ids = state["connection_ids"]
    stamp = int(time.time())
    rows = [
        (ids[i % len(ids)], f"p{stamp}_{i}", state["organisation_id"], started, "pending", 0, 0, started)
        for i in range(count)
    ]
    try:
        await conn.copy_records_to_table(
            "runs",
            records=rows,
            columns=(
                "connection_id", "id", "organisation_id", "started_at", "outcome", "events_delivered",
                "batches_dlq", "created_at",
            ),
        )  # fmt: skip
    finally:
        await conn.close()
    return [(r[0], r[1]) for r in rows]


async def patch_phase(
    base: str, state: dict[str, Any], runs: list[tuple[str, str]], concurrency: int, max_seconds: float
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {state['service_key']}"}
    org = state["organisation_id"]
    queue = list(runs)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + max_seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while queue and time.monotonic() < deadline:
            cid, run_id = queue.pop()
            body = {
                "completed_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "events_delivered": 120,
                "events_by_type": {"evaluations": 20, "custom_events": 100},
                "batches_dlq": 0,
                "error": None,
                "latency_ms": 900,
                "events_pending": 3,
            }
            url = f"{base}/api/v1/organisations/{org}/integrations/warehouse-connections/{cid}"
            url += f"/metrics/{run_id}/"
            began = time.perf_counter()
            try:
                response = await client.patch(url, json=body, headers=headers)
                code = str(response.status_code)
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            latencies.append((time.perf_counter() - began) * 1000)
            if code != "204":
                errors[code] = errors.get(code, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        began = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    return {
        **summary(latencies),
        "reports": len(latencies),
        "seconds": round(elapsed, 2),
        "reports_per_s": round(len(latencies) / elapsed, 1),
        "errors": errors,
        "concurrency": concurrency,
    }


async def measure(
    base: str, state: dict[str, Any], args: argparse.Namespace, rss: RssSampler
) -> dict[str, Any]:
    read = {"Authorization": f"Bearer {state['reader']}"}
    org = state["organisation_id"]
    ids: list[str] = state["connection_ids"]
    rng = random.Random(7)
    dsn = state["database_url"]
    results: dict[str, Any] = {}
    pg = await asyncpg.connect(dsn)

    def conn_url(cid: str, organisation_id: int = org) -> str:
        return f"{base}/api/v1/organisations/{organisation_id}/integrations/warehouse-connections/{cid}"

    async with httpx.AsyncClient(timeout=60) as client:
        # 1. GET …/telemetry/ on a month of 5-minute runs, and on a connection with 10 runs.
        samples, _ = await timed(
            lambda: client.get(conn_url(rng.choice(ids)) + "/telemetry/", headers=read), args.requests
        )
        results["telemetry"] = summary(samples)
        small = conn_url(state["small_connection_id"], state["small_organisation_id"])
        samples, _ = await timed(lambda: client.get(small + "/telemetry/", headers=read), args.requests)
        results["telemetry_small"] = summary(samples)
        samples, _ = await timed(lambda: pg.fetch(NAIVE_TELEMETRY, rng.choice(ids)), args.naive_requests, 2)
        results["telemetry_naive"] = summary(samples)

        # 2. Bulk latest for 500 connections (POST: 500 ids do not fit a URL comfortably).
        def bulk_ids() -> list[str]:
            start = rng.randrange(0, len(ids) - 500 + 1)
            return ids[start : start + 500]

        samples, answer = await timed(
            lambda: client.post(
                f"{base}/api/v1/telemetry/metrics/?size=500", json={"ids": bulk_ids()}, headers=read
            ),
            args.requests,
        )
        assert ok(answer).json()["total"] == 500, answer.text
        results["bulk_latest_500"] = summary(samples)
        samples, _ = await timed(lambda: pg.fetch(NAIVE_BULK, bulk_ids()), args.naive_requests, 2)
        results["bulk_latest_500_naive"] = summary(samples)

        # 3. Organisation health over 30 days, 1,000 connections.
        health_url = f"{base}/api/v1/organisations/{org}/integration-health/?days=30"
        samples, answer = await timed(lambda: client.get(health_url, headers=read), args.requests)
        results["health_30d"] = summary(samples)
        api_health = ok(answer).json()
        now = datetime.now(UTC)
        samples, naive = await timed(
            lambda: pg.fetch(NAIVE_HEALTH, org, now - timedelta(days=30), now), args.naive_heavy_requests, 1
        )
        results["health_30d_naive"] = summary(samples)
        naive_total = sum(r[1] for r in naive)
        results["health_check"] = {
            "api_total_events": api_health["total_events"],
            "naive_total_events": naive_total,
        }

        # 4. timeseries, 7 days hourly.
        def timeseries() -> Awaitable[httpx.Response]:
            frm = (datetime.now(UTC) - timedelta(days=7)).isoformat().replace("+00:00", "Z")
            return client.get(
                conn_url(rng.choice(ids))
                + f"/telemetry/metrics/?time_type=timeseries&time_unit=hour&timestamp_from={frm}",
                headers=read,
            )

        samples, answer = await timed(timeseries, args.requests)
        results["timeseries_7d_hourly"] = summary(samples)
        hours = len(ok(answer).json()["data"]["runs"])
        samples, _ = await timed(
            lambda: pg.fetch(
                NAIVE_TIMESERIES, rng.choice(ids), datetime.now(UTC) - timedelta(days=7), datetime.now(UTC)
            ),
            args.naive_requests,
            2,
        )
        results["timeseries_7d_hourly_naive"] = summary(samples)
        results["timeseries_buckets"] = hours

        # Spot check: whole hours of the series equal the naive GROUP BY over raw runs.
        cid = ids[3]
        frm = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
        to = frm + timedelta(days=1)
        api = ok(
            await client.get(
                conn_url(cid) + "/telemetry/metrics/?time_type=timeseries&time_unit=hour"
                f"&timestamp_from={zulu(frm)}&timestamp_to={zulu(to)}",
                headers=read,
            )
        ).json()["data"]
        naive_rows = await pg.fetch(NAIVE_TIMESERIES, cid, frm, to)
        results["timeseries_check_equal"] = [p["value"] for p in api["runs"]] == [
            r[1] for r in naive_rows
        ] and [p["value"] for p in api["events_delivered"]] == [r[2] for r in naive_rows]

    await pg.close()
    results["rss_after_reads_mb"] = round(rss.peak_kb / 1024, 1)

    # 5. PATCH throughput with concurrent clients.
    runs = await seed_pending(dsn, state, args.patch_count)
    try:
        results["patch"] = await patch_phase(base, state, runs, args.patch_concurrency, args.patch_seconds)
    finally:
        # Seeded runs left unreported would turn into orphans and change the next run's dataset.
        pg = await asyncpg.connect(dsn)
        try:
            await pg.execute(
                "DELETE FROM runs WHERE completed_at IS NULL AND id = ANY($1)", [r for _, r in runs]
            )
        finally:
            await pg.close()
    results["rss_peak_mb"] = round(rss.peak_kb / 1024, 1)
    return results


def start_server(state: dict[str, Any], port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PIPEPULSE_DATABASE_URL": state["database_url"], "PIPEPULSE_LOG_LEVEL": "WARNING"}
    env["PIPEPULSE_DB_POOL_SIZE"] = env.get("PIPEPULSE_DB_POOL_SIZE", "10")
    exe = Path(sys.executable).with_name("pipepulse")
    return subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )


async def wait_ready(base: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def table(r: dict[str, Any]) -> str:
    def ratio(naive: str, fast: str) -> str:
        value = r[naive]["p50_ms"] / r[fast]["p50_ms"]
        return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"

    t, s = r["telemetry"], r["telemetry_small"]
    p = r["patch"]
    rows = [
        ("`GET …/telemetry/`", "p50 ≤ 5 ms, p99 ≤ 20 ms, ≤ 1.5x of 10 runs",
         f"p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms; 10-run connection p50 {s['p50_ms']} ms "
         f"(ratio {t['p50_ms'] / s['p50_ms']:.2f})",
         f"p50 {r['telemetry_naive']['p50_ms']} ms ({ratio('telemetry_naive', 'telemetry')})"),
        ("`PATCH …/metrics/{run_id}/`", "≥ 1,000/s, p99 ≤ 50 ms, no errors",
         f"{p['reports_per_s']}/s over {p['reports']} reports, {p['concurrency']} clients; "
         f"p50 {p['p50_ms']} ms, "
         f"p99 {p['p99_ms']} ms; errors {p['errors'] or 'none'}", "—"),
        ("scheduler tick, 10,000 connections", "≤ 2 s", "not measured here: `bench/scheduler_tick.py`", "—"),
        ("bulk `latest`, 500 connections", "≤ 100 ms",
         f"p50 {r['bulk_latest_500']['p50_ms']} ms, p99 {r['bulk_latest_500']['p99_ms']} ms",
         f"p50 {r['bulk_latest_500_naive']['p50_ms']} ms "
         f"({ratio('bulk_latest_500_naive', 'bulk_latest_500')})"),
        ("organisation health, 30 days, 1,000 conn.", "≤ 50 ms",
         f"p50 {r['health_30d']['p50_ms']} ms, p99 {r['health_30d']['p99_ms']} ms",
         f"p50 {r['health_30d_naive']['p50_ms']} ms ({ratio('health_30d_naive', 'health_30d')})"),
        ("`timeseries`, 7 days hourly", "≤ 20 ms",
         f"p50 {r['timeseries_7d_hourly']['p50_ms']} ms, p99 {r['timeseries_7d_hourly']['p99_ms']} ms",
         f"p50 {r['timeseries_7d_hourly_naive']['p50_ms']} ms "
         f"({ratio('timeseries_7d_hourly_naive', 'timeseries_7d_hourly')})"),
        ("server memory under that load", "≤ 200 MB RSS", f"peak {r['rss_peak_mb']} MB", "—"),
    ]  # fmt: skip
    out = ["| operation | target | measured | naive (raw runs, SQL only) |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--requests", type=int, default=300, help="Timed requests per read operation.")
    parser.add_argument("--naive-requests", type=int, default=30)
    parser.add_argument(
        "--naive-heavy-requests", type=int, default=3, help="For the 30-day naive health scan."
    )
    parser.add_argument("--patch-count", type=int, default=20_000)
    parser.add_argument("--patch-concurrency", type=int, default=32)
    parser.add_argument("--patch-seconds", type=float, default=30)
    args = parser.parse_args()

    state = json.loads(STATE.read_text())
    base = f"http://127.0.0.1:{args.port}"
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", args.port)) == 0:
            raise SystemExit(f"port {args.port} is already in use; pick another with --port")
    server = start_server(state, args.port, args.workers)
    try:
        asyncio.run(wait_ready(base))
        rss = RssSampler(server.pid)
        rss.start()
        results = asyncio.run(measure(base, state, args, rss))
        rss.stopped.set()
    finally:
        server.terminate()
        server.wait(timeout=30)
    results.update(
        measured_at=datetime.now(UTC).isoformat(), workers=args.workers, database=state["database_url"]
    )
    RESULTS.write_text(json.dumps(results, indent=1))
    print(table(results))
    print(json.dumps({k: v for k, v in results.items() if k.endswith("check") or k.endswith("equal")}))


if __name__ == "__main__":
    main()
