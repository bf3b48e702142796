from __future__ import annotations

from typing import Any

import httpx
import pytest

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.session import Database
from tests.alerts.receiver import Receiver, receiver
from tests.alerts.world import AlertWorld
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


@pytest.fixture
def world(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
    service_key: dict[str, str],
) -> AlertWorld:
    return AlertWorld(client, tenant, db, alert_settings, clock, receiver, service_key)
