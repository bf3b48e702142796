"""The live server and the headless Chromium every browser test of the dashboard uses.

The fixtures are registered by ``tests/dashboard/conftest.py``, so every test module here
shares one server and one browser per run.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.session import Database
from tests.conftest import FrozenClock, Tenant
from tests.dashboard.seed import Scenario, seed

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NOW = datetime(2026, 4, 20, 12, 0, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def live_clock() -> FrozenClock:
    return FrozenClock(NOW)


class LiveServer:
    """The app from create_app on the test database, served by uvicorn in a thread of its own;
    it can be stopped and started again on the same port (a server that goes away)."""

    def __init__(self, settings: Settings, clock: FrozenClock, port: int | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.port = port or free_port()
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        app = create_app(self.settings, clock=self.clock)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = server = uvicorn.Server(config)
        self.thread = thread = threading.Thread(target=server.run, name="dashboard-live-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
        self.server = self.thread = None


@pytest.fixture(scope="session")
def live_url(settings: Settings, migrated_db: Database, live_clock: FrozenClock) -> Iterator[str]:
    """The app served for the whole run."""
    live = LiveServer(settings, live_clock)
    live.start()
    yield live.url
    live.stop()


@pytest.fixture(scope="session")
def chromium() -> Path:
    # Only a developer machine may lack the browser: on CI this skip fails the run (tests/conftest.py).
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (scripts/setup installs it)")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    opened = await context.new_page()
    yield opened
    await context.close()


@pytest.fixture
async def live_api(live_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_url) as client:
        yield client


@pytest.fixture
async def live_scenario(
    live_api: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], live_clock: FrozenClock
) -> Scenario:
    live_clock.now = NOW
    return await seed(live_api, tenant, service_key, live_clock.now)


async def sign_in(page: Page, live_url: str, token: str) -> None:
    await page.goto(live_url + "/")
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def telemetry(api: httpx.AsyncClient, tenant: Tenant, connection_id: str) -> dict[str, Any]:
    response = await api.get(tenant.connection_url(connection_id) + "telemetry/", headers=tenant.read)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body
