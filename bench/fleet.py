"""SPEC §6's fleet limit: how many connections one machine keeps on time, end to end.

``pipepulse serve``, two ``pipepulse scheduler`` replicas with the ``http`` dispatcher, and a
fleet of loaders on loopback (one small server that accepts each signed invocation with 202,
"loads" for a moment and reports back with ``PATCH …/metrics/{run_id}/``), N connections in
50 organisations on a 60-second schedule, each organisation with a webhook channel to a
receiver on loopback and two grouped rules sending it status changes (one grouping by
connection, one by error fingerprint), and one platform rule grouping by fingerprint. At
``--outage-start`` minutes a destination outage makes every connection of one destination type
(10 % of them) fail every run for ``--outage-minutes``, then recover.

The connections' first slots are spread evenly over the first minute (a fleet created over
time, not in one instant); from then on the scheduler keeps each on its grid. Measured, from
the database, the loaders' log, the receiver's log and each replica's own ``/metrics``:

- seeding lag (seeded ``started_at`` minus the grid slot it was due) p50 / p99 / max;
- the real gap between consecutive runs of a connection (a 60 s schedule should give 60 s);
- runs lost (a slot of the measured window without a run) or doubled (two runs in one slot),
  and runs never reported back;
- detect-to-notify: from the report that turned a connection to ``error`` (its
  ``error_status_runs``-th failing report of the outage) to the receiver's receipt of the
  notification naming it, p50 / p99;
- notifications per rule for the outage (and their resolutions);
- each replica's share of the seeding and its loop times; each process's peak RSS; how busy
  the machine was.

    python -m bench.fleet --connections 1000 --minutes 15               # SPEC §6's run
    python -m bench.fleet --connections 1000 --minutes 6 --outage-start 2 --outage-minutes 2

The loaders report in batches (``POST /api/v1/runs/reports/`` every ``--report-batch-seconds``,
0.5 s by default; 0 reports each run by ``PATCH``). Besides the organisations' rules, one
platform rule (SPEC §7.4) groups the outage's alerts by error fingerprint across every
organisation, to a platform channel on the same receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import math
import os
import platform
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "fleet-results.json"
RAW = Path(os.environ.get("TMPDIR", "/tmp")) / "pipepulse-fleet-raw.json"
INTERVAL = 60
ORGANISATIONS = 50
OUTAGE_TYPE, OTHER_TYPE = "bigquery", "snowflake"
CAUSE_WAIT, CAUSE_INTERVAL = 120, 240  # the per-cause rule's group_wait and group_interval
RUNS_TO_ERROR = 3  # PIPEPULSE_ERROR_STATUS_RUNS' default: the failing report that turns it to error
CONN = "/api/v1/organisations/{org}/integrations/warehouse-connections/{cid}"


# --- Analysis (pure; tests/bench/test_fleet.py) ----------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def slot_of(started: float, anchor: float, interval: float = INTERVAL) -> float:
    """The latest slot of the grid anchor + k * interval at or before ``started``."""
    return anchor + math.floor((started - anchor) / interval) * interval


def seeding_lags(
    runs: dict[str, list[float]], anchors: dict[str, float], interval: float = INTERVAL
) -> list[float]:
    """Seeded ``started_at`` minus the slot each run was due."""
    return [
        started - slot_of(started, anchors[cid], interval)
        for cid, starts in runs.items()
        for started in starts
        if started >= anchors[cid]
    ]


def gaps(runs: dict[str, list[float]]) -> list[float]:
    """Seconds between consecutive runs of each connection."""
    out: list[float] = []
    for starts in runs.values():
        ordered = sorted(starts)
        out.extend(b - a for a, b in itertools.pairwise(ordered))
    return out


def lost_and_doubled(
    runs: dict[str, list[float]], anchors: dict[str, float], until: float, interval: float = INTERVAL
) -> tuple[int, int, int]:
    """(slots expected, slots without a run, extra runs in a slot) for every slot from each
    connection's anchor up to ``until``."""
    expected = lost = doubled = 0
    for cid, anchor in anchors.items():
        per_slot = Counter(slot_of(s, anchor, interval) for s in runs.get(cid, []) if s >= anchor)
        slot = anchor
        while slot <= until:
            expected += 1
            count = per_slot.get(slot, 0)
            lost += count == 0
            doubled += max(0, count - 1)
            slot += interval
    return expected, lost, doubled


def turning_reports(
    failed_reports: dict[str, list[float]], after: float, runs_to_error: int
) -> dict[str, float]:
    """When each connection's ``runs_to_error``-th failing report at or after ``after`` arrived:
    the report that turned it to ``error``."""
    out = {}
    for cid, times in failed_reports.items():
        during = sorted(t for t in times if t >= after)
        if len(during) >= runs_to_error:
            out[cid] = during[runs_to_error - 1]
    return out


def detect_to_notify(turned: dict[str, float], notified: dict[str, list[float]]) -> tuple[list[float], int]:
    """Seconds from each turning report to the first receipt naming that connection after it;
    and how many turned connections were never notified."""
    delays, missing = [], 0
    for cid, at in turned.items():
        times = sorted(notified.get(cid, []))
        i = bisect.bisect_left(times, at)
        if i == len(times):
            missing += 1
        else:
            delays.append(times[i] - at)
    return delays, missing


def group_notifications(
    received: Sequence[tuple[float, int, dict[str, Any]]], rules: dict[str, str], since: float
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """From the receiver's log of §7.4 group notifications: when each connection was named
    firing in ``error`` by a per-connection rule (for detect-to-notify), and how many firing and
    resolved notifications each rule's groups got from ``since`` on."""
    named: dict[str, list[float]] = defaultdict(list)
    sent: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for at, _org, payload in received:
        if payload.get("type") != "alert_group" or at < since:
            continue
        group = payload.get("group") or {}
        kind = rules.get(str(group.get("rule_id")), "other")
        sent[kind][(str(group.get("id")), str(payload.get("status")))] += 1
        if kind != "connection" or payload.get("status") != "firing":
            continue
        for alert in payload.get("alerts") or []:
            if alert.get("ended_at") is None and (alert.get("labels") or {}).get("condition") == "error":
                named[str((alert.get("connection") or {}).get("id", ""))].append(at)
    summary: dict[str, Any] = {}
    for kind, counts in sorted(sent.items()):
        groups = {g for g, _ in counts}
        firing = [counts[(g, "firing")] for g in groups]
        resolved = [counts[(g, "resolved")] for g in groups]
        summary[kind] = {
            "rules": sum(1 for v in rules.values() if v == kind),
            "groups": len(groups),
            "firing_per_group_max": max(firing, default=0),
            "resolved_per_group_max": max(resolved, default=0),
            "groups_with_one_firing_and_one_resolved": sum(
                1 for g in groups if counts[(g, "firing")] == 1 and counts[(g, "resolved")] == 1
            ),
            "firing_total": sum(firing),
            "resolved_total": sum(resolved),
        }
    return named, summary


def parse_exposition(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text format: (name, labels) -> value."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels: set[tuple[str, str]] = set()
        for part in rest.rstrip("}").split(","):
            if "=" in part:
                k, _, v = part.partition("=")
                labels.add((k.strip(), v.strip().strip('"')))
        out[(name.strip(), frozenset(labels))] = float(value)
    return out


def histogram_quantile(buckets: Iterable[tuple[float, float]], q: float) -> float:
    """Prometheus' estimate of quantile q (0..1) from cumulative (upper bound, count) buckets."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] == 0:
        return math.nan
    total = ordered[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return ordered[-1][0]


def histogram(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **match: str
) -> dict[str, Any]:
    """count, sum, p50 and p99 of one histogram (optionally one label set) of an exposition."""
    want = set(match.items())
    buckets: dict[float, float] = defaultdict(float)
    count = total = 0.0
    for (metric, labels), value in samples.items():
        if not want <= labels:
            continue
        if metric == f"{name}_bucket":
            le = dict(labels)["le"]
            buckets[math.inf if le == "+Inf" else float(le)] += value
        elif metric == f"{name}_count":
            count += value
        elif metric == f"{name}_sum":
            total += value
    pairs = list(buckets.items())
    return {
        "count": count,
        "mean_s": round(total / count, 4) if count else None,
        "p50_s": round(histogram_quantile(pairs, 0.5), 3) if count else None,
        "p99_s": round(histogram_quantile(pairs, 0.99), 3) if count else None,
    }


# --- The loader fleet (its own process) -----------------------------------------------------------


def loader_main(args: argparse.Namespace) -> None:
    """Accept each signed invocation with 202, load for a moment, report back: in batches
    (``POST /api/v1/runs/reports/``, every ``--report-batch-seconds``) as a loader fleet that
    buffers does, or one ``PATCH …/metrics/{run_id}/`` each when that is 0."""
    import httpx
    import uvicorn

    from pipepulse.wire.invocation_signature import expected_signature

    plan = json.loads(Path(args.plan).read_text())
    outage = set(plan["outage_connections"])
    outage_from, outage_to = plan["outage_from"], plan["outage_to"]
    batch_seconds: float = plan.get("report_batch_seconds", 0)
    headers = {"authorization": f"Bearer {plan['service_key']}", "content-type": "application/json"}
    # One JSON line per report, written as it happens (run_id, connection_id, invoked_at,
    # reported_at, failed, status), so the log is whole however the process is stopped.
    log = Path(args.log).open("w", buffering=1)
    limit = asyncio.Semaphore(64)
    tasks: set[asyncio.Task[None]] = set()
    client: httpx.AsyncClient | None = None
    # Reports waiting for the next batch: (run, invoked at, failed, body).
    buffered: list[tuple[dict[str, Any], float, bool, dict[str, Any]]] = []

    def logged(run: dict[str, Any], invoked: float, failed: bool, status: int) -> None:
        log.write(
            json.dumps([run["run_id"], run["connection_id"], invoked, time.time(), failed, status]) + "\n"
        )

    async def sent(method: str, url: str, body: Any) -> httpx.Response | None:
        """The request, tried three times on a 5xx or a broken connection."""
        assert client is not None
        response = None
        for _ in range(3):
            try:
                response = await client.request(method, url, content=json.dumps(body), headers=headers)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code < 500:
                break
            await asyncio.sleep(1)
        return response

    async def report(run: dict[str, Any], invoked: float) -> None:
        await asyncio.sleep(random.uniform(0.2, 1.0))  # the load itself
        now = time.time()
        failed = run["connection_id"] in outage and outage_from <= now < outage_to
        body: dict[str, Any] = {
            "completed_at": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
            "events_delivered": 0 if failed else 100,
        }
        if failed:
            body["error"] = f"destination {OUTAGE_TYPE} unavailable: 503 from the warehouse API"
        if batch_seconds:
            buffered.append((run, invoked, failed, body))
            return
        url = CONN.format(org=run["organisation_id"], cid=run["connection_id"]) + f"/metrics/{run['run_id']}/"
        async with limit:
            response = await sent("PATCH", url, body)
        logged(run, invoked, failed, response.status_code if response is not None else -1)

    async def flush_batches() -> None:
        """Every ``batch_seconds``, what has been buffered, 1,000 reports a request (§4.7)."""
        while True:
            await asyncio.sleep(batch_seconds)
            while buffered:
                chunk = buffered[:1000]
                del buffered[:1000]
                items = [
                    {
                        "organisation_id": run["organisation_id"],
                        "connection_id": run["connection_id"],
                        "run_id": run["run_id"],
                        **body,
                    }
                    for run, _invoked, _failed, body in chunk
                ]
                response = await sent("POST", "/api/v1/runs/reports/", items)
                results: list[dict[str, Any]] = []
                if response is not None and response.status_code == 200:
                    results = response.json()["results"]
                statuses = {r["index"]: r["status"] for r in results}
                fallback = response.status_code if response is not None else -1
                for index, (run, invoked, failed, _body) in enumerate(chunk):
                    logged(run, invoked, failed, statuses.get(index, fallback))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        got = {k.decode(): v.decode() for k, v in scope["headers"]}
        expected = expected_signature(plan["signing_secret"], got.get("x-pipepulse-timestamp", ""), body)
        ok = secrets.compare_digest(expected, got.get("x-pipepulse-signature", ""))
        await send({"type": "http.response.start", "status": 202 if ok else 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        if ok:
            task = asyncio.create_task(report(json.loads(body), time.time()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def serve() -> None:
        nonlocal client
        client = httpx.AsyncClient(
            base_url=plan["serve_url"], timeout=30, limits=httpx.Limits(max_connections=64)
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=30,
        )
        server = uvicorn.Server(config)
        flusher = asyncio.create_task(flush_batches()) if batch_seconds else None
        try:
            await server.serve()
        finally:
            if tasks:
                await asyncio.wait(list(tasks), timeout=5)
            if flusher is not None:
                flusher.cancel()
            await client.aclose()

    asyncio.run(serve())


# --- The receiver (in the driving process) --------------------------------------------------------


@dataclass
class Receiver:
    """Webhook deliveries on loopback: (received at, organisation, payload)."""

    received: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                at = time.time()
                lines = head.split("\r\n")
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                org = int(lines[0].split()[1].rstrip("/").rsplit("/", 1)[-1])
                with contextlib.suppress(ValueError):
                    self.received.append((at, org, json.loads(body)))
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
            pass
        finally:
            writer.close()


# --- Set-up and processes -------------------------------------------------------------------------


async def set_up(url: str, n: int, receiver_port: int, first_slot: int, secret_key: str) -> dict[str, Any]:
    """Migrate; organisations, a webhook channel and a status rule each; N connections whose
    first slots are spread over a minute; the loaders' service key. Channel secrets are
    encrypted with ``secret_key``, which every process of the fleet shares (SPEC §7.5)."""
    from sqlalchemy import insert

    from pipepulse import secretbox
    from pipepulse.alerts import service as alerts_service
    from pipepulse.alerts.schemas import ChannelCreate, RuleCreate
    from pipepulse.auth import scopes
    from pipepulse.auth import service as auth_service
    from pipepulse.auth.principals import UserPrincipal
    from pipepulse.db import migrate
    from pipepulse.db.engine import async_database_url, create_engine
    from pipepulse.db.models import WarehouseConnection
    from pipepulse.db.session import Database
    from pipepulse.organisations import service as organisations_service

    now = datetime.now(UTC)
    secretbox.install(secretbox.SecretBox(secretbox.parse(secret_key)))
    db = Database(create_engine(async_database_url(url)))
    try:
        await migrate.upgrade(db.engine)
        rows, anchors, outage, orgs = [], {}, [], []
        rules: dict[str, str] = {}
        async with db.session(write=True) as session:
            key = await auth_service.create_service_key(session, name="fleet", now=now)
            for o in range(ORGANISATIONS):
                org = await organisations_service.create(
                    session, slug=f"fleet-{o:02d}", name=f"Fleet {o}", now=now
                )
                orgs.append(org.id)
                owner = UserPrincipal(token_id="bench", organisation_id=org.id, scopes=frozenset(scopes.ALL))
                channel = await alerts_service.create_channel(
                    session,
                    owner,
                    org.id,
                    ChannelCreate(
                        name="On call", kind="webhook", url=f"http://127.0.0.1:{receiver_port}/o/{org.id}"
                    ),
                    now,
                    allow_private=True,
                )
                # Per connection: each connection's change reaches the receiver at once
                # (group_wait 10 s); detect-to-notify is measured on this rule.
                per_connection = await alerts_service.create_rule(
                    session,
                    owner,
                    org.id,
                    RuleCreate(
                        channel_id=channel.id, events=["status:error", "recovered"], group_by=["connection"]
                    ),
                    now,
                )
                rules[per_connection.id] = "connection"
                # Per cause: the outage's alerts share one error fingerprint, so this rule should
                # send one notification when the outage has spread and one when it is over. The
                # waits cover how the outage spreads here: connections turn to error over one
                # schedule interval (60 s), so group_wait holds the first notification 120 s and
                # group_interval keeps the group quiet until every connection has recovered.
                per_cause = await alerts_service.create_rule(
                    session,
                    owner,
                    org.id,
                    RuleCreate(
                        channel_id=channel.id,
                        events=["status:error", "recovered"],
                        group_by=["fingerprint"],
                        group_wait_seconds=CAUSE_WAIT,
                        group_interval_seconds=CAUSE_INTERVAL,
                    ),
                    now,
                )
                rules[per_cause.id] = "fingerprint"
            # One platform rule (SPEC §7.4) across every organisation, grouped by cause: the
            # outage should make one platform notification and one resolution, however many
            # organisations it reaches. Its channel posts to the receiver as organisation 0.
            platform = UserPrincipal(token_id="bench", organisation_id=None, scopes=frozenset(scopes.ALL))
            platform_channel = await alerts_service.create_channel(
                session,
                platform,
                None,
                ChannelCreate(
                    name="Platform on call", kind="webhook", url=f"http://127.0.0.1:{receiver_port}/o/0"
                ),
                now,
                allow_private=True,
            )
            platform_rule = await alerts_service.create_rule(
                session,
                platform,
                None,
                RuleCreate(
                    channel_id=platform_channel.id,
                    events=["status:error", "recovered"],
                    group_by=["fingerprint"],
                    group_wait_seconds=CAUSE_WAIT,
                    group_interval_seconds=CAUSE_INTERVAL,
                ),
                now,
            )
            rules[platform_rule.id] = "platform"
            for i in range(n):
                cid = f"wc_fleet{i:06d}"
                anchor = first_slot + (i * INTERVAL) // n
                kind = OUTAGE_TYPE if i % 10 == 0 else OTHER_TYPE
                rows.append(
                    {
                        "id": cid,
                        "organisation_id": orgs[i % ORGANISATIONS],
                        "name": f"Pipeline {i:06d}",
                        "type": kind,
                        "integration_type": "warehouse_delivery",
                        "config": {},
                        "state": "connected",
                        "event_types": ["events"],
                        "schedule_interval_seconds": INTERVAL,
                        "next_run_epoch": anchor,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                anchors[cid] = anchor
                if kind == OUTAGE_TYPE:
                    outage.append(cid)
            for chunk in range(0, len(rows), 1000):
                await session.execute(insert(WarehouseConnection), rows[chunk : chunk + 1000])
        return {"service_key": key.key, "anchors": anchors, "outage_connections": outage, "rules": rules}
    finally:
        await db.dispose()


async def recreate(admin_dsn: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def spawn(command: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, **kw)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import asyncpg
    import httpx

    admin = f"postgresql://postgres@{args.host}/postgres"
    url = f"postgresql://postgres@{args.host}/{args.database}"
    await recreate(admin, args.database)
    receiver = Receiver()
    await receiver.start()
    start = math.ceil(time.time()) + args.warmup
    outage_from = start + args.outage_start * 60
    outage_to = outage_from + args.outage_minutes * 60
    end = start + args.minutes * 60
    print(f"setting up {args.connections:,} connections in {ORGANISATIONS} organisations…", flush=True)
    secret_key = secrets.token_urlsafe(32)
    state = await set_up(url, args.connections, receiver.port, start, secret_key)
    serve_port, loader_port = free_port(), free_port()
    signing = secrets.token_hex(16)
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    plan_path, loader_log = tmp / "pipepulse-fleet-plan.json", tmp / "pipepulse-fleet-loader.json"
    plan_path.write_text(
        json.dumps(
            {
                "outage_connections": state["outage_connections"],
                "outage_from": outage_from,
                "outage_to": outage_to,
                "service_key": state["service_key"],
                "signing_secret": signing,
                "serve_url": f"http://127.0.0.1:{serve_port}",
                "report_batch_seconds": args.report_batch_seconds,
            }
        )
    )
    exe = str(Path(sys.executable).with_name("pipepulse"))
    base_env = {
        **os.environ,
        "PIPEPULSE_DATABASE_URL": url,
        "PIPEPULSE_LOG_LEVEL": "WARNING",
        "PIPEPULSE_ALERTS_ALLOW_PRIVATE_URLS": "true",
        "PIPEPULSE_SECRET_KEY": secret_key,
    }
    logs = (tmp / "pipepulse-fleet-logs").resolve()
    logs.mkdir(exist_ok=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    procs["serve"] = spawn(
        [exe, "serve", "--host", "127.0.0.1", "--port", str(serve_port), "--workers", "1"],
        env=base_env,
        stdout=subprocess.DEVNULL,
        stderr=(logs / "serve.log").open("wb"),
    )
    procs["loaders"] = spawn(
        [
            sys.executable,
            "-m",
            "bench.fleet",
            "loader",
            "--port",
            str(loader_port),
            "--plan",
            str(plan_path),
            "--log",
            str(loader_log),
        ],
        cwd=HERE.parent,
        stdout=subprocess.DEVNULL,
        stderr=(logs / "loaders.log").open("wb"),
    )
    metrics_ports = []
    for r in range(args.replicas):
        port = free_port()
        metrics_ports.append(port)
        env = {
            **base_env,
            "PIPEPULSE_DISPATCHER": "http",
            "PIPEPULSE_LOADER_URL": f"http://127.0.0.1:{loader_port}/invoke",
            "PIPEPULSE_LOADER_SIGNING_SECRET": signing,
            "PIPEPULSE_SCHEDULER_METRICS_PORT": str(port),
            "PIPEPULSE_LOG_LEVEL": args.scheduler_log_level,
        }
        log_file = (logs / f"scheduler-{r + 1}.log").open("wb")
        procs[f"scheduler-{r + 1}"] = spawn([exe, "scheduler"], env=env, stdout=log_file, stderr=log_file)
    peak: dict[str, int] = defaultdict(int)
    busy0, total0 = cpu_times()

    def hms(at: float) -> str:
        return f"{datetime.fromtimestamp(at, UTC):%H:%M:%S}"

    print(f"running until {hms(end)} UTC; outage {hms(outage_from)}-{hms(outage_to)}", flush=True)
    try:
        while time.time() < end:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited with {proc.returncode}; see {logs}/{name}.log")
                peak[name] = max(peak[name], rss_kb(proc.pid))
            await asyncio.sleep(0.5)
        busy1, total1 = cpu_times()
        scraped = {}
        async with httpx.AsyncClient() as client:
            for r, port in enumerate(metrics_ports):
                scraped[f"scheduler-{r + 1}"] = (await client.get(f"http://127.0.0.1:{port}/")).text
        await asyncio.sleep(5)  # the last notifications
    finally:
        for name in [n for n in procs if n.startswith("scheduler")] + ["loaders", "serve"]:
            procs[name].send_signal(signal.SIGTERM)
            try:
                procs[name].wait(timeout=15)
            except subprocess.TimeoutExpired:
                procs[name].kill()
    reported = [json.loads(line) for line in loader_log.read_text().splitlines() if line.strip()]
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT connection_id, started_at, outcome FROM runs WHERE started_at < to_timestamp($1)", end
        )
    finally:
        await conn.close()
    raw = {
        "state": state,
        "runs": [[cid, started.timestamp(), outcome] for cid, started, outcome in rows],
        "reported": reported,
        "received": receiver.received,
        "scraped": scraped,
        "peak": peak,
        "busy": (busy1 - busy0) / (total1 - total0),
        "end": end,
        "outage_from": outage_from,
    }
    write_json(RAW, raw)
    return from_raw(args, raw)


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value))


def from_raw(args: argparse.Namespace, raw: dict[str, Any]) -> dict[str, Any]:
    """The analysis of a run's raw record (``--reanalyse`` repeats it without running again)."""
    return analyse(
        args,
        raw["state"],
        [(cid, datetime.fromtimestamp(at, UTC), outcome) for cid, at, outcome in raw["runs"]],
        raw["reported"],
        [tuple(r) for r in raw["received"]],
        {name: parse_exposition(text) for name, text in raw["scraped"].items()},
        raw["peak"],
        raw["busy"],
        end=raw["end"],
        outage_from=raw["outage_from"],
        runs_to_error=RUNS_TO_ERROR,
    )


def analyse(
    args: argparse.Namespace,
    state: dict[str, Any],
    rows: Sequence[Any],
    reported: list[list[Any]],
    received: list[tuple[float, int, dict[str, Any]]],
    scraped: dict[str, Any],
    peak: dict[str, int],
    busy: float,
    *,
    end: float,
    outage_from: float,
    runs_to_error: int,
) -> dict[str, Any]:
    runs: dict[str, list[float]] = defaultdict(list)
    for cid, started, _outcome in rows:
        runs[cid].append(started.timestamp())
    anchors = {cid: float(a) for cid, a in state["anchors"].items()}
    lags = seeding_lags(runs, anchors)
    gap = gaps(runs)
    # Every slot that came at least 10 s before the end must have its run.
    expected, lost, doubled = lost_and_doubled(runs, anchors, end - 10)
    invoked = {r[0] for r in reported}
    unreported = sum(1 for r in reported if r[5] not in (200, 204))
    failed: dict[str, list[float]] = defaultdict(list)
    for _run, cid, _inv, at, was_failed, _status in reported:
        if was_failed:
            failed[cid].append(at)
    turned = turning_reports(failed, outage_from, runs_to_error)
    to_error, per_rule = group_notifications(received, state.get("rules", {}), outage_from)
    delays, never = detect_to_notify(turned, to_error)
    shares = {
        name: s.get(("pipepulse_scheduler_seeded_runs_total", frozenset()), 0.0)
        for name, s in scraped.items()
    }
    loops = {
        name: {
            loop: histogram(s, "pipepulse_scheduler_loop_seconds", loop=loop)
            for loop in ("seeding", "alerts", "housekeeping")
        }
        for name, s in scraped.items()
    }
    own_lag = {name: histogram(s, "pipepulse_scheduler_seeding_lag_seconds") for name, s in scraped.items()}
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "connections": args.connections,
        "organisations": ORGANISATIONS,
        "replicas": args.replicas,
        "minutes": args.minutes,
        "outage": {
            "from_minute": args.outage_start,
            "minutes": args.outage_minutes,
            "connections": len(state["outage_connections"]),
        },
        "runs": sum(len(v) for v in runs.values()),
        "seeding_lag_s": {
            "p50": round(percentile(lags, 50), 3),
            "p99": round(percentile(lags, 99), 3),
            "max": round(max(lags, default=math.nan), 3),
        },
        "gap_s": {
            "mean": round(sum(gap) / len(gap), 3) if gap else None,
            "p50": round(percentile(gap, 50), 3),
            "p99": round(percentile(gap, 99), 3),
        },
        "slots": {"expected": expected, "lost": lost, "doubled": doubled},
        "invocations": len(invoked),
        "reports_not_accepted": unreported,
        "detect_to_notify_s": {
            "turned": len(turned),
            "notified": len(delays),
            "never_notified": never,
            "p50": round(percentile(delays, 50), 3),
            "p99": round(percentile(delays, 99), 3),
        },
        "notifications_per_rule": per_rule,
        "seeded_per_replica": shares,
        "replica_lag": own_lag,
        "loop_seconds": loops,
        "peak_rss_mb": {name: round(kb / 1024, 1) for name, kb in sorted(peak.items())},
        "machine_busy": round(busy, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    loader = sub.add_parser("loader", help="(internal) the loader fleet process")
    loader.add_argument("--port", type=int, required=True)
    loader.add_argument("--plan", required=True)
    loader.add_argument("--log", required=True)
    parser.add_argument("--connections", "-n", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--outage-start", type=float, default=5, help="minute the outage starts")
    parser.add_argument("--outage-minutes", type=float, default=5)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument(
        "--report-batch-seconds",
        type=float,
        default=0.5,
        help="The loaders buffer their reports and send them in batches this often (0: one PATCH each).",
    )
    parser.add_argument(
        "--scheduler-log-level",
        default="WARNING",
        help="The schedulers' PIPEPULSE_LOG_LEVEL (DEBUG: a line a pass, in $TMPDIR/pipepulse-fleet-logs).",
    )
    parser.add_argument("--warmup", type=int, default=20, help="seconds before the first slot")
    parser.add_argument("--host", default="127.0.0.1:5432", help="PostgreSQL host:port (user postgres).")
    parser.add_argument("--database", default="pipepulse_fleet", help="Dropped and recreated.")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--reanalyse", action="store_true", help=f"Analyse the last run's record ({RAW}) again."
    )
    args = parser.parse_args()
    if args.command == "loader":
        loader_main(args)
        return
    if args.reanalyse:
        result = from_raw(args, json.loads(RAW.read_text()))
    else:
        result = asyncio.run(run(args))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
