"""Render the dashboard's screenshots into docs/screenshots/ (run: .venv/bin/python scripts/screenshots.py).

Builds a throwaway SQLite database with the demo's week (``pipepulse demo``'s organisation and
connections, so the pictures show what a newcomer sees), serves the app on a free local port and
photographs each page in headless Chromium (Debian's /usr/bin/chromium).
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db import migrate
from pipepulse.db.engine import create_engine
from pipepulse.db.session import Database
from pipepulse.demo import build_history

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


async def seed(settings: Settings, now: datetime) -> tuple[str, int, str, str]:
    """The demo's own story (``pipepulse demo``'s organisation, connections and week)."""
    db = Database(create_engine(settings.resolved_database_url))
    await migrate.upgrade(db.engine)
    handles = await build_history(db, now)
    await db.dispose()
    return (
        handles.token,
        handles.organisation_id,
        handles.connection_ids["flaky"],
        handles.connection_ids["broken"],
    )


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
