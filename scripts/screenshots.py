"""Render the dashboard's screenshots into docs/screenshots/ (run: .venv/bin/python scripts/screenshots.py).

Builds a throwaway SQLite database with a week of made-up history, serves the app on a free
local port and photographs each page in headless Chromium (Debian's /usr/bin/chromium).
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from pipepulse.app import create_app
from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.auth.principals import UserPrincipal
from pipepulse.config import Settings
from pipepulse.connections import service as connections_service
from pipepulse.connections.schemas import ConnectionCreate
from pipepulse.db import migrate
from pipepulse.db.engine import create_engine
from pipepulse.db.session import Database
from pipepulse.organisations import service as organisations_service
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import RunCreate

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# name, destination type, integration type, story
CONNECTIONS = [
    ("Product analytics", "snowflake", "warehouse_delivery", "healthy"),
    ("Marketing events", "bigquery", "warehouse_delivery", "drop"),
    ("Clickstream", "clickhouse", "warehouse_delivery", "flaky"),
    ("Billing replica", "postgres", "metadata_sync", "broken"),
    ("Feature flag audit", "databricks", "quality_check", "healthy"),
    ("Data science sandbox", "duckdb", "profiling", "paused"),
    ("Finance lakehouse", "redshift", "warehouse_delivery", "new"),
]


async def seed(settings: Settings, now: datetime) -> tuple[str, int, str, str]:
    db = Database(create_engine(settings.resolved_database_url))
    await migrate.upgrade(db.engine)
    rng = random.Random(7)
    async with db.session(write=True) as session:
        org = await organisations_service.create(session, slug="acme", name="Acme Analytics", now=now)
        token = await auth_service.create_token(
            session, organisation_id=org.id, scopes=[scopes.READ_PIPELINE_METRICS], name="docs", now=now
        )
        showcase = broken = ""
        for name, kind, integration, story in CONNECTIONS:
            connection = await connections_service.create(
                session,
                UserPrincipal(token_id=token.id, organisation_id=org.id, scopes=frozenset()),
                org.id,
                ConnectionCreate(
                    name=name,
                    type=kind,
                    integration_type=integration,
                    state="paused" if story == "paused" else "connected",
                ),
                now - timedelta(days=8),
            )
            if story == "flaky":
                showcase = connection.id
            if story == "broken":
                broken = connection.id
            if story == "new":
                continue
            last = now - timedelta(days=3, hours=5) if story == "paused" else now
            start = now - timedelta(days=7, minutes=50)
            at = start
            i = 0
            scale = rng.uniform(0.6, 1.4)
            while at < last - timedelta(minutes=8):
                hour = at.hour + at.minute / 60
                daily = 0.55 + 0.45 * math.sin((hour - 9) / 24 * 2 * math.pi)
                evaluations = int(scale * 9000 * daily * rng.uniform(0.85, 1.15))
                custom = int(scale * 1400 * daily * rng.uniform(0.7, 1.3))
                body: dict[str, object] = {
                    "run_id": f"run_{connection.id[3:11]}_{i:04d}",
                    "started_at": at - timedelta(seconds=rng.randint(20, 140)),
                    "completed_at": at,
                    "events_delivered": evaluations + custom,
                    "events_by_type": {"evaluations": evaluations, "custom_events": custom},
                    "batches_dlq": 0,
                }
                hours_ago = (now - at).total_seconds() / 3600
                if story == "flaky" and i % 29 == 11:
                    body |= failed("connection reset by peer")
                if story == "flaky" and 2 < hours_ago < 9 and i % 3 == 0:
                    body["batches_dlq"] = rng.randint(1, 4)
                if story == "flaky" and 10 < hours_ago < 13:
                    body |= failed("clickhouse: TOO_MANY_PARTS: merges are processing slower than inserts")
                if story == "drop" and at.replace(minute=0, second=0) == now.replace(
                    minute=0, second=0
                ) - timedelta(hours=1):
                    body["events_delivered"] = evaluations // 25
                    body["events_by_type"] = {"evaluations": evaluations // 25, "custom_events": 0}
                if story == "broken" and hours_ago < 3.2:
                    body |= failed('permission denied for schema "billing" (SQLSTATE 42501)')
                await runs_service.create(session, connection, RunCreate.model_validate(body), now)
                i += 1
                at += timedelta(minutes=60)
    await db.dispose()
    return token.token, org.id, showcase, broken


def failed(error: str) -> dict[str, object]:
    return {"events_delivered": 0, "events_by_type": None, "error": error}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/demo.db", data_dir=Path(tmp), secret_key="docs", dispatcher="none"
        )
        token, org_id, showcase, broken = asyncio.run(seed(settings, now))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
                )
                # The widths the dashboard is checked at: a laptop and a phone.
                page = browser.new_page(viewport={"width": 1366, "height": 800}, device_scale_factor=1)
                page.goto(base + "/")
                page.screenshot(path=OUT / "sign-in.png")
                page.fill("#token", token)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/orgs/{org_id}/")
                page.screenshot(path=OUT / "organisation.png", full_page=True)
                page.goto(f"{base}/orgs/{org_id}/connections/{showcase}/")
                page.screenshot(path=OUT / "streaming-status.png", full_page=True)
                page.goto(f"{base}/orgs/{org_id}/connections/{broken}/?period=24h")
                page.screenshot(path=OUT / "streaming-status-incident.png")
                page.click("text=Open the latest failing run")
                page.wait_for_selector(".run-outcome")
                page.screenshot(path=OUT / "run.png", full_page=True)
                phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
                phone.context.add_cookies(page.context.cookies())
                phone.goto(f"{base}/orgs/{org_id}/connections/{showcase}/")
                phone.screenshot(path=OUT / "streaming-status-phone.png")
                phone.goto(f"{base}/orgs/{org_id}/connections/{showcase}/#chart")
                phone.screenshot(path=OUT / "streaming-status-chart-phone.png")
                phone.goto(f"{base}/orgs/{org_id}/connections/{showcase}/?runs=failing#runs")
                phone.screenshot(path=OUT / "streaming-status-runs-phone.png")
                phone.goto(f"{base}/orgs/{org_id}/")
                phone.screenshot(path=OUT / "organisation-phone.png")
                offline = browser.new_page(viewport={"width": 1366, "height": 800}, device_scale_factor=1)
                offline.context.add_cookies(page.context.cookies())
                offline.goto(f"{base}/orgs/{org_id}/connections/{broken}/")
                page.context.clear_cookies()
                page.goto(base + "/")
                page.fill("#token", "ppt_000000000000_not-a-real-token")
                page.click("button[type=submit]")
                page.wait_for_selector("[role=alert]")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=OUT / "sign-in-wrong-token.png")
                # Last: the server goes away under an open page.
                server.should_exit = True
                thread.join(timeout=10)
                offline.evaluate("window.pipepulse.refresh()")
                offline.wait_for_selector("#offline-banner:not([hidden])")
                offline.screenshot(path=OUT / "streaming-status-offline.png")
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    for path in sorted(OUT.glob("*.png")):
        print(path.relative_to(OUT.parent.parent))


if __name__ == "__main__":
    main()
