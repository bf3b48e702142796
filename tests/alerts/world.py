"""One alert test's world: the fixtures an end-to-end alert test needs, and its usual steps.

Nearly every test under tests/alerts/ took the same seven fixtures (client, tenant, database,
settings, clock, loopback receiver, service key) and repeated the same set-up: make connections,
add a channel to the receiver, add a rule, push failing runs, run the alert pass of two replicas
at an instant. ``AlertWorld`` bundles them (the ``world`` fixture of tests/alerts/conftest.py)
so a test states only what differs; the functions below stay importable for tests that need
another combination.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.conftest import FrozenClock, Tenant, iso

# The error of the runs ``fail`` pushes.
FAILING = "warehouse maintenance in progress"


def channels_url(tenant: Tenant) -> str:
    return f"/api/v1/organisations/{tenant.id}/alert-channels/"


def rules_url(tenant: Tenant) -> str:
    return f"/api/v1/organisations/{tenant.id}/alert-rules/"


def log_url(tenant: Tenant) -> str:
    return f"/api/v1/organisations/{tenant.id}/notifications/"


def groups_url(tenant: Tenant) -> str:
    return f"/api/v1/organisations/{tenant.id}/alert-groups/"


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


async def seed(client: httpx.AsyncClient, tenant: Tenant, n: int) -> list[str]:
    """``n`` connected connections named ``Replica 000`` on; their ids."""
    made = []
    for i in range(n):
        body = {"name": f"Replica {i:03d}", "type": "postgres", "state": "connected"}
        response = await client.post(tenant.connections_url(), json=body, headers=tenant.write)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    return made


async def runs(
    client: httpx.AsyncClient,
    tenant: Tenant,
    key: dict[str, str],
    connections: list[str],
    at: datetime,
    error: Callable[[int], str] | None,
) -> None:
    """A finished run of every connection, pushed as its loader would; ``error(i)`` the i-th
    connection's error, or every run good when ``None``."""
    for i, cid in enumerate(connections):
        body = {
            "started_at": iso(at - timedelta(seconds=5)),
            "completed_at": iso(at),
            "events_delivered": 0 if error else 100,
            "batches_dlq": 0,
            "error": error(i) if error else None,
        }
        response = await client.post(tenant.connection_url(cid) + "metrics/", json=body, headers=key)
        assert response.status_code == 201, response.text


async def make(client: httpx.AsyncClient, tenant: Tenant) -> str:
    """One connected connection named ``Warehouse``; its id."""
    body = {"name": "Warehouse", "type": "postgres", "state": "connected"}
    response = await client.post(tenant.connections_url(), json=body, headers=tenant.write)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def push(
    client: httpx.AsyncClient,
    tenant: Tenant,
    key: dict[str, str],
    cid: str,
    at: datetime,
    error: str | None,
    clock: FrozenClock,
) -> None:
    """One run of ``cid`` finished at ``at``; the clock moves on to ``at`` if it is behind."""
    clock.now = max(clock.now, at)
    body: dict[str, Any] = {
        "started_at": iso(at - timedelta(seconds=5)),
        "completed_at": iso(at),
        "events_delivered": 0 if error else 10,
        "batches_dlq": 0,
        "error": error,
    }
    response = await client.post(tenant.connection_url(cid) + "metrics/", json=body, headers=key)
    assert response.status_code == 201, response.text


async def fail(
    client: httpx.AsyncClient, tenant: Tenant, key: dict[str, str], cid: str, at: datetime, clock: FrozenClock
) -> None:
    """Three failed runs of ``cid`` a second apart from ``at``: enough to put it in error."""
    for k in range(3):
        await push(client, tenant, key, cid, at + timedelta(seconds=k), FAILING, clock)


async def tick(db: Database, settings: Settings, clock: FrozenClock, at: datetime, replicas: int = 2) -> None:
    """The clock set to ``at`` and the alert pass run there by each replica (the second one
    finds nothing more to do)."""
    clock.now = at
    for _ in range(replicas):
        await alert_pass(db, settings, at)


@dataclass
class AlertWorld:
    """The fixtures of one alert test, acting for ``tenant``; its methods are the functions
    above with those fixtures filled in."""

    client: httpx.AsyncClient
    tenant: Tenant
    db: Database
    settings: Settings
    clock: FrozenClock
    receiver: Receiver
    service_key: dict[str, str]

    def as_tenant(self, tenant: Tenant) -> AlertWorld:
        """The same world acting for another organisation."""
        return dataclasses.replace(self, tenant=tenant)

    async def connections(self, n: int) -> list[str]:
        return await seed(self.client, self.tenant, n)

    async def connection(self) -> str:
        return await make(self.client, self.tenant)

    async def channel(self, kind: str = "webhook", name: str = "On-call") -> dict[str, Any]:
        """A channel sending to the loopback receiver."""
        return await add_channel(self.client, self.tenant, self.receiver, kind=kind, name=name)

    async def rule(self, channel_id: str, events: list[str], **extra: Any) -> dict[str, Any]:
        return await add_rule(self.client, self.tenant, channel_id, events, **extra)

    async def runs(self, connections: list[str], at: datetime, error: Callable[[int], str] | None) -> None:
        await runs(self.client, self.tenant, self.service_key, connections, at, error)

    async def push(self, cid: str, at: datetime, error: str | None) -> None:
        await push(self.client, self.tenant, self.service_key, cid, at, error, self.clock)

    async def fail(self, cid: str, at: datetime) -> None:
        await fail(self.client, self.tenant, self.service_key, cid, at, self.clock)

    async def tick(self, at: datetime, replicas: int = 2) -> None:
        await tick(self.db, self.settings, self.clock, at, replicas)

    async def groups(self, **params: Any) -> list[dict[str, Any]]:
        """The organisation's alert groups as the API lists them."""
        response = await self.client.get(groups_url(self.tenant), params=params, headers=self.tenant.read)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items
