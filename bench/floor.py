"""The floors of the stack (SPEC §6): the least work each benchmarked request can do, and
(``--same-work``) exactly the SQL pipepulse itself runs for it (bench/same_work.py).

FastAPI + uvicorn + asyncpg, one worker like ``pipepulse serve``, on the same routes, so the
same wrk scripts drive both. Each route parses the bearer header (and the body), runs ONE
indexed statement and answers; no authentication lookup, no validation beyond JSON, no rules.
Whatever pipepulse costs above this is pipepulse's own.

With ``--same-work FILE`` every route runs, instead of its one statement, the statements
pipepulse ran for that request when they were captured, in one transaction for a write.

    python -m bench.floor --database-url postgresql://postgres@127.0.0.1:5432/pipepulse_bench --port 18801
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, Request, Response

from bench import same_work
from pipepulse.db import engine

CONN = "/api/v1/organisations/{org}/integrations/warehouse-connections/{cid}"

# One conditional UPDATE: what completing a run costs at the least (no rollups).
PATCH_SQL = """
UPDATE runs SET completed_at = $3, events_delivered = $4, batches_dlq = $5, error = $6,
       events_by_type = $7::json, latency_ms = $8, events_pending = $9, outcome = 'succeeded'
WHERE connection_id = $1 AND id = $2 AND completed_at IS NULL
"""
# The same, set-based over a batch.
BATCH_SQL = """
UPDATE runs r SET completed_at = b.completed_at, events_delivered = b.events, batches_dlq = b.dlq,
       events_by_type = b.by_type::json, outcome = 'succeeded'
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::int[], $6::text[])
     AS b(cid, rid, completed_at, events, dlq, by_type)
WHERE r.connection_id = b.cid AND r.id = b.rid AND r.completed_at IS NULL
"""
# One read of the covering rollup index: the 7-day counters of one connection.
TELEMETRY_SQL = """
SELECT sum(runs), sum(events_delivered), sum(batches_dlq), sum(partial + failed)
FROM run_hourly_rollups WHERE connection_id = $1 AND hour >= $2
"""
TIMESERIES_SQL = """
SELECT hour, runs, succeeded, partial, failed, events_delivered, batches_dlq
FROM run_hourly_rollups WHERE connection_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour
"""
BULK_SQL = """
SELECT connection_id, sum(runs), sum(events_delivered), sum(batches_dlq), sum(partial + failed)
FROM run_hourly_rollups WHERE connection_id = ANY($1::text[]) AND hour >= $2 GROUP BY connection_id
"""
HEALTH_SQL = """
SELECT sum(runs), sum(succeeded), sum(partial + failed)
FROM run_daily_rollups WHERE organisation_id = $1 AND day >= $2
"""
# What an exact status history has to read at the least: every run's time and outcome.
HISTORY_SQL = """
SELECT completed_at, outcome FROM runs
WHERE connection_id = $1 AND completed_at >= $2 AND completed_at < $3 ORDER BY completed_at
"""


def bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def unauthorised() -> Response:
    return Response('{"detail":"missing bearer token"}', status_code=401, media_type="application/json")


async def _codecs(conn: asyncpg.Connection) -> None:
    """JSON parameters arrive serialised (as pipepulse's driver sends them): pass them through."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=str, decoder=str, schema="pg_catalog", format="text")


async def replay(
    pool: asyncpg.Pool, statements: list[dict[str, Any]], slots: Callable[[Any], Any], write: bool
) -> int:
    """Run a captured request's statements (bench/same_work.py) for this request; rows read."""
    now = datetime.now(UTC)
    rows = 0
    async with pool.acquire() as conn:
        transaction = conn.transaction() if write else None
        if transaction is not None:
            await transaction.start()
        try:
            for statement in statements:
                params = same_work.fill(statement["params"], slots, now)
                if statement["many"]:
                    await conn.executemany(statement["sql"], params)
                else:
                    rows += len(await conn.fetch(statement["sql"], *params))
        except BaseException:
            if transaction is not None:
                await transaction.rollback()
            raise
        if transaction is not None:
            await transaction.commit()
    return rows


def create_app(database_url: str, pool_size: int, captured: dict[str, Any] | None = None) -> FastAPI:
    """The minimal floor; with ``captured`` (bench/same_work.py) the same-work floor: each
    route runs pipepulse's own statements for that request instead of its one statement."""
    state: dict[str, Any] = {}
    work: dict[str, list[dict[str, Any]]] = (captured or {}).get("requests", {})

    def same(name: str) -> list[dict[str, Any]] | None:
        return work.get(name) if captured is not None else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The same-work floor runs pipepulse's statements in sessions set up as pipepulse's
        # are (no JIT, no parallel workers) but for the forced generic plans: the replay binds
        # the captured values with the types asyncpg infers, not the ones pipepulse declares,
        # and a generic plan of those is not pipepulse's plan (a batch replayed 2.4/s against
        # 21/s). The minimal floor is a plain client.
        settings = (
            {k: v for k, v in engine.POSTGRES_SESSION.items() if k != "plan_cache_mode"}
            if captured is not None
            else {}
        )
        state["pool"] = await asyncpg.create_pool(
            database_url, min_size=pool_size, max_size=pool_size, init=_codecs, server_settings=settings
        )
        try:
            yield
        finally:
            await state["pool"].close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.patch(CONN + "/metrics/{run_id}/")
    async def report(cid: str, run_id: str, request: Request) -> Response:
        if bearer(request) is None:
            return unauthorised()
        body = json.loads(await request.body())
        completed = datetime.fromisoformat(body["completed_at"])
        statements = same("patch")
        if statements is not None:
            values = {"cid": cid, "run_id": run_id, "completed_at": completed}
            await replay(state["pool"], statements, values.__getitem__, write=True)
            return Response(status_code=204)
        by_type = body.get("events_by_type")
        await state["pool"].execute(
            PATCH_SQL, cid, run_id, completed, body.get("events_delivered", 0), body.get("batches_dlq", 0),
            body.get("error"), json.dumps(by_type) if by_type is not None else None, body.get("latency_ms"),
            body.get("events_pending"),
        )  # fmt: skip
        return Response(status_code=204)

    @app.post("/api/v1/runs/reports/")
    async def reports(request: Request) -> Response:
        if bearer(request) is None:
            return unauthorised()
        items = json.loads(await request.body())
        statements = same("batch")
        if statements is not None:
            completed = datetime.fromisoformat(items[0]["completed_at"])

            def batch_slot(key: Any) -> Any:
                if key == "completed_at":
                    return completed
                if key == "cid":
                    return items[0]["connection_id"]
                return items[key[1]][key[2]]

            await replay(state["pool"], statements, batch_slot, write=True)
            results = [{"index": i, "status": 204} for i in range(len(items))]
            return Response(json.dumps({"results": results}), media_type="application/json")
        columns: list[list[Any]] = [[], [], [], [], [], []]
        for item in items:
            columns[0].append(item["connection_id"])
            columns[1].append(item["run_id"])
            columns[2].append(datetime.fromisoformat(item["completed_at"]))
            columns[3].append(item.get("events_delivered", 0))
            columns[4].append(item.get("batches_dlq", 0))
            by_type = item.get("events_by_type")
            columns[5].append(json.dumps(by_type) if by_type is not None else None)
        await state["pool"].execute(BATCH_SQL, *columns)
        results = [{"index": i, "status": 204} for i in range(len(items))]
        return Response(json.dumps({"results": results}), media_type="application/json")

    @app.get(CONN + "/telemetry/")
    async def telemetry(cid: str, request: Request) -> Response:
        if bearer(request) is None:
            return unauthorised()
        statements = same("telemetry")
        if statements is not None:
            rows = await replay(state["pool"], statements, {"cid": cid}.__getitem__, write=False)
            return Response(json.dumps({"rows": rows}), media_type="application/json")
        since = datetime.now(UTC) - timedelta(days=7)
        row = await state["pool"].fetchrow(TELEMETRY_SQL, cid, since)
        body = dict(zip(("runs", "events", "dlq", "failing"), (int(v or 0) for v in row), strict=True))
        return Response(json.dumps(body), media_type="application/json")

    @app.get(CONN + "/telemetry/metrics/")
    async def timeseries(cid: str, request: Request) -> Response:
        if bearer(request) is None:
            return unauthorised()
        statements = same("timeseries")
        if statements is not None:
            rows = await replay(state["pool"], statements, {"cid": cid}.__getitem__, write=False)
            return Response(json.dumps({"rows": rows}), media_type="application/json")
        now = datetime.now(UTC)
        rows = await state["pool"].fetch(TIMESERIES_SQL, cid, now - timedelta(days=7), now)
        body = [[r[0].isoformat(), *(int(v) for v in r[1:])] for r in rows]
        return Response(json.dumps({"data": body}), media_type="application/json")

    @app.get(CONN + "/status-history/")
    async def status_history(cid: str, request: Request) -> Response:
        if bearer(request) is None:
            return unauthorised()
        statements = same("status_history")
        if statements is not None:
            rows = await replay(state["pool"], statements, {"cid": cid}.__getitem__, write=False)
            return Response(json.dumps({"rows": rows}), media_type="application/json")
        now = datetime.now(UTC)
        rows = await state["pool"].fetch(HISTORY_SQL, cid, now - timedelta(days=30), now)
        body = [[r[0].isoformat(), r[1]] for r in rows]
        return Response(json.dumps({"runs": body}), media_type="application/json")

    @app.post("/api/v1/telemetry/metrics/")
    async def bulk(request: Request) -> Response:
        if bearer(request) is None:
            return unauthorised()
        ids = json.loads(await request.body())["ids"]
        statements = same("bulk")
        if statements is not None:
            rows = await replay(state["pool"], statements, lambda key: ids[key[1]], write=False)
            return Response(json.dumps({"rows": rows}), media_type="application/json")
        rows = await state["pool"].fetch(BULK_SQL, ids, datetime.now(UTC) - timedelta(days=1))
        body = [{"id": r[0], "data": [int(v or 0) for v in r[1:]]} for r in rows]
        return Response(json.dumps({"result": body}), media_type="application/json")

    @app.get("/api/v1/organisations/{org}/integration-health/")
    async def health(org: int, request: Request) -> Response:
        if bearer(request) is None:
            return unauthorised()
        statements = same("health")
        if statements is not None:
            rows = await replay(state["pool"], statements, {}.__getitem__, write=False)
            return Response(json.dumps({"rows": rows}), media_type="application/json")
        row = await state["pool"].fetchrow(HEALTH_SQL, org, datetime.now(UTC) - timedelta(days=30))
        body = dict(zip(("total", "success", "errors"), (int(v or 0) for v in row), strict=True))
        return Response(json.dumps(body), media_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True, help="postgresql://… (asyncpg's form)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18801)
    parser.add_argument(
        "--pool-size", type=int, default=20, help="As pipepulse's pool (PIPEPULSE_DB_POOL_SIZE, no overflow)."
    )
    parser.add_argument(
        "--same-work",
        default=None,
        help="Captured statements (python -m bench.same_work): the same-work floor.",
    )
    args = parser.parse_args()
    captured = json.loads(Path(args.same_work).read_text()) if args.same_work else None
    app = create_app(args.database_url, args.pool_size, captured)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
