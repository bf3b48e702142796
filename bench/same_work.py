"""The same-work floor's SQL (SPEC §6): exactly the statements pipepulse runs for each
benchmarked request, captured from pipepulse itself, not copied by hand.

``capture`` runs pipepulse's own app in this process on the benchmark database, with a
listener on its engine that records every statement the driver sends (text and parameters,
as compiled for asyncpg). Each request is made twice and the second is kept (caches warm, as
under load). The parameters are then turned into a template: a value the request carried
(connection id, organisation, run id, the body's ``completed_at``, the ids of a bulk read or
a batch) becomes a slot the replay fills from its own request; any other instant becomes an
offset from "now" (an instant on a whole hour or day stays on one); everything else is kept.

``bench/floor.py --same-work FILE`` replays them: the same statements, in the same order, in
one transaction for a write, on asyncpg, with no framework dependencies, validation or rules.

    python -m bench.same_work --state bench/state-pipepulse_bench.json --out /tmp/same-work.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
CONN = "/api/v1/organisations/{org}/integrations/warehouse-connections/{cid}"
BATCH_SIZE = 500
CAPTURE_PREFIX = "capture_"


# --- Templates -----------------------------------------------------------------------------------


def _aligned(value: datetime, step: timedelta) -> bool:
    return (value - datetime(2000, 1, 1, tzinfo=value.tzinfo)) % step == timedelta(0)


def _floor(value: datetime, step: timedelta) -> datetime:
    base = datetime(2000, 1, 1, tzinfo=value.tzinfo)
    return base + ((value - base) // step) * step


def template(value: Any, known: dict[Any, Any], now: datetime) -> Any:
    """A captured parameter as a template (JSON): a request slot, an instant relative to now,
    or the value itself."""
    if isinstance(value, list | tuple):
        return {"list": [template(v, known, now) for v in value]}
    if isinstance(value, datetime):
        if value in known:
            return {"slot": known[value]}
        for name, step in (("day", DAY), ("hour", HOUR)):
            if value.tzinfo is not None and _aligned(value, step):
                return {"at": (value - _floor(now, step)).total_seconds(), "align": name}
        return {"at": (value - now).total_seconds()}
    if isinstance(value, date):
        return {"day": (value - now.date()).days}
    if isinstance(value, str) and value in known:
        return {"slot": known[value]}
    if value is None or isinstance(value, bool | int | float | str):
        return {"v": value}
    return {"v": str(value)}


def fill(spec: Any, slots: Callable[[Any], Any], now: datetime) -> Any:
    """The value of a template for one request (``slots`` answers a slot's key)."""
    if "list" in spec:
        return [fill(v, slots, now) for v in spec["list"]]
    if "slot" in spec:
        return slots(spec["slot"])
    if "at" in spec:
        align = spec.get("align")
        base = _floor(now, DAY if align == "day" else HOUR) if align else now
        return base + timedelta(seconds=spec["at"])
    if "day" in spec:
        return now.date() + timedelta(days=spec["day"])
    return spec["v"]


# --- Capture ------------------------------------------------------------------------------------


async def capture(state: dict[str, Any]) -> dict[str, Any]:
    """Run each benchmarked request through pipepulse on the benchmark database, twice; the
    statements of the second, as templates."""
    import httpx
    from sqlalchemy import event

    from bench.ingest import clear_ingest, seed
    from pipepulse.app import create_app
    from pipepulse.config import Settings
    from pipepulse.db.engine import async_database_url, create_engine
    from pipepulse.db.session import Database

    url = state["database_url"]
    engine = create_engine(async_database_url(url))
    seen: list[tuple[str, Any, bool]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        seen.append((statement, parameters, many))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    now = datetime.now(UTC).replace(microsecond=0)
    db = Database(engine)
    settings = Settings(
        database_url=url, secret_key="same-work-capture-secret-key-of-32-characters", dispatcher="none"
    )
    app = create_app(settings, clock=lambda: now, database=db)
    reader = {"Authorization": f"Bearer {state['reader']}"}
    key = {"Authorization": f"Bearer {state['service_key']}"}
    org, cid = state["organisation_id"], state["connection_ids"][0]
    ingest_org = state["ingest_organisation_id"]
    fmt, n = state["ingest_connection_id_format"], state["ingest_connections"]
    conn_url = CONN.format(org=org, cid=cid)
    since_7d = (now - 7 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    since_30d = (now - 30 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    completed = now - timedelta(seconds=1)
    body = {
        "completed_at": completed.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "events_delivered": 120,
        "events_by_type": {"evaluations": 20, "custom_events": 100},
        "batches_dlq": 0,
        "error": None,
        "latency_ms": 900,
        "events_pending": 3,
    }
    bulk_ids = state["connection_ids"][:BATCH_SIZE]
    # Organisations stay as captured: every request of a kind names the same one in the bench.
    base_known: dict[Any, Any] = {cid: "cid", completed: "completed_at"}
    await seed(url, state, CAPTURE_PREFIX, 2 * BATCH_SIZE + 2, now - timedelta(minutes=1))
    out: dict[str, Any] = {"captured_at": now.isoformat(), "requests": {}}
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://pipepulse.bench") as client:
            reads = {
                "telemetry": conn_url + "/telemetry/",
                "timeseries": conn_url
                + f"/telemetry/metrics/?time_type=timeseries&time_unit=hour&timestamp_from={since_7d}",
                "status_history": conn_url + f"/status-history/?from={since_30d}&to={now:%Y-%m-%dT%H:%M:%SZ}",
                "health": f"/api/v1/organisations/{org}/integration-health/?days=30",
            }
            for name, path in reads.items():
                for _ in range(2):
                    seen.clear()
                    response = await client.get(path, headers=reader)
                if response.status_code != 200:
                    continue  # a route this build does not have
                out["requests"][name] = _templates(seen, base_known, now)
            for _ in range(2):
                seen.clear()
                response = await client.post(
                    "/api/v1/telemetry/metrics/?size=500", json={"ids": bulk_ids}, headers=reader
                )
            known = {**base_known, **{v: ["ids", i] for i, v in enumerate(bulk_ids)}}
            out["requests"]["bulk"] = _templates(seen, known, now)
            for attempt in range(2):
                run_cid = fmt % attempt
                run_id = f"{CAPTURE_PREFIX}{attempt}"
                seen.clear()
                response = await client.patch(
                    CONN.format(org=ingest_org, cid=run_cid) + f"/metrics/{run_id}/", json=body, headers=key
                )
                assert response.status_code in (200, 204), response.text
            known = {**base_known, run_cid: "cid", run_id: "run_id"}
            out["requests"]["patch"] = _templates(seen, known, now)
            for attempt in range(2):
                first = 2 + attempt * BATCH_SIZE
                items = [
                    {
                        **body,
                        "organisation_id": ingest_org,
                        "connection_id": fmt % ((first + k) % n),
                        "run_id": f"{CAPTURE_PREFIX}{first + k}",
                    }
                    for k in range(BATCH_SIZE)
                ]
                seen.clear()
                response = await client.post("/api/v1/runs/reports/", json=items, headers=key)
                if response.status_code != 200:
                    break
            else:
                known = dict(base_known)
                for k, item in enumerate(items):
                    known[item["run_id"]] = ["items", k, "run_id"]
                    known.setdefault(item["connection_id"], ["items", k, "connection_id"])
                out["requests"]["batch"] = _templates(seen, known, now)
    finally:
        await engine.dispose()
        await clear_ingest(url, state)
    return out


def _templates(
    seen: list[tuple[str, Any, bool]], known: dict[Any, Any], now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "sql": statement,
            "many": many,
            "params": template(list(parameters) if not many else [list(p) for p in parameters], known, now),
        }
        for statement, parameters, many in seen
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--state", required=True, help="bench/state-<database>.json from bench.generate")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    state = json.loads(Path(args.state).read_text())
    captured = asyncio.run(capture(state))
    Path(args.out).write_text(json.dumps(captured, indent=1))
    for name, statements in captured["requests"].items():
        print(f"{name}: {len(statements)} statement(s)")


if __name__ == "__main__":
    main()
