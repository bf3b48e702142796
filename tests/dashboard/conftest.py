from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import FrozenClock, Tenant
from tests.dashboard.live import (  # noqa: F401  (fixtures shared by the browser tests)
    browser,
    chromium,
    live_api,
    live_clock,
    live_scenario,
    live_url,
    page,
)
from tests.dashboard.seed import Scenario, seed

METRIC = re.compile(r'data-metric="([^"]+)"[^>]*?data-value="([^"]*)"')


def metrics(html: str) -> dict[str, str]:
    """The ``data-metric`` → ``data-value`` pairs a page shows."""
    return dict(METRIC.findall(html))


async def sign_in(client: httpx.AsyncClient, token: str, next_path: str = "") -> httpx.Response:
    return await client.post("/sign-in", data={"token": token, "next": next_path})


@pytest.fixture
async def scenario(
    client: httpx.AsyncClient, tenant: Tenant, service_key: dict[str, str], clock: FrozenClock
) -> Scenario:
    return await seed(client, tenant, service_key, clock.now)


@pytest.fixture
async def reader_client(client: httpx.AsyncClient, tenant: Tenant) -> httpx.AsyncClient:
    response = await sign_in(client, tenant.reader)
    assert response.status_code == 303, response.text
    return client


def telemetry_metrics(body: dict[str, Any]) -> dict[str, str]:
    """The telemetry JSON flattened the way the pages label their numbers."""
    out = {
        "last_delivery_at": body["last_delivery_at"] or "",
        "failed_deliveries_last_24h": str(body["failed_deliveries_last_24h"]),
    }
    for window in ("events_last_24h", "events_last_7d"):
        for key, value in body[window].items():
            out[f"{window}.{key}"] = str(value)
    return out
