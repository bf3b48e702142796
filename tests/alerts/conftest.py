from __future__ import annotations

from typing import Any

import httpx
import pytest

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.session import Database
from tests.alerts.receiver import Receiver, receiver
from tests.conftest import FrozenClock, Tenant

__all__ = ["receiver"]


@pytest.fixture
def alert_settings(settings: Settings) -> Settings:
    """The receivers in these tests listen on loopback, which only this setting allows."""
    return settings.model_copy(
        update={"alerts_allow_private_urls": True, "public_url": "https://pipepulse.example.com"}
    )


@pytest.fixture
def app(alert_settings: Settings, db: Database, clock: FrozenClock) -> Any:
    return create_app(alert_settings, clock=clock, database=db)


def channels_url(tenant: Tenant) -> str:
    return f"/api/v1/organisations/{tenant.id}/alert-channels/"


def rules_url(tenant: Tenant) -> str:
    return f"/api/v1/organisations/{tenant.id}/alert-rules/"


def log_url(tenant: Tenant) -> str:
    return f"/api/v1/organisations/{tenant.id}/notifications/"


async def add_channel(
    client: httpx.AsyncClient,
    tenant: Tenant,
    receiver: Receiver,
    kind: str = "webhook",
    name: str = "On-call",
) -> dict[str, Any]:
    response = await client.post(
        channels_url(tenant), json={"name": name, "kind": kind, "url": receiver.url}, headers=tenant.write
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_rule(
    client: httpx.AsyncClient, tenant: Tenant, channel_id: str, events: list[str], **extra: Any
) -> dict[str, Any]:
    """A rule told at the next delivery pass (``group_wait_seconds`` 0 unless given): these tests
    look at one instant at a time; the wait has its own edge tests (test_edges_alerts.py)."""
    body = {"channel_id": channel_id, "events": events, "group_wait_seconds": 0, **extra}
    response = await client.post(rules_url(tenant), json=body, headers=tenant.write)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
