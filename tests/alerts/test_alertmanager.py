"""SPEC §7.5 ``alertmanager`` channels against Debian's real Prometheus Alertmanager, started
here on a free loopback port: its API (and amtool) show the alert with the exact start, and a
silence made in Alertmanager silences it there."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.test_evaluation import make_connection, push
from tests.alerts.test_outbox import break_connection
from tests.alerts.world import add_rule, channels_url
from tests.conftest import FrozenClock, Tenant

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
CONFIG = """\
route:
  receiver: nowhere
receivers:
  - name: nowhere
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    if BINARY is None:
        pytest.skip("prometheus-alertmanager is not installed (scripts/setup installs it)")
    (tmp_path / "alertmanager.yml").write_text(CONFIG)
    port = _free_port()
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"alertmanager did not start: {process.stderr.read() if process.stderr else ''}"
                )
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_alertmanager__connection_in_error__alert_with_exact_start_then_silenced_there(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    alertmanager: str,
) -> None:
    # Alertmanager judges endsAt by its own clock: this test's instants lie around the real now.
    clock.now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=6)
    created = await client.post(
        channels_url(tenant),
        json={"name": "am", "kind": "alertmanager", "url": alertmanager},
        headers=tenant.write,
    )
    assert created.status_code == 201, created.text
    channel = created.json()
    connection_id = await make_connection(client, tenant)
    await add_rule(client, tenant, channel["id"], ["status:error", "recovered"])
    broken_at = await break_connection(client, tenant, service_key, clock, connection_id)
    await alert_pass(db, alert_settings, clock.now)

    async with httpx.AsyncClient(base_url=alertmanager) as am:
        [alert] = (await am.get("/api/v2/alerts")).json()
        assert alert["labels"]["connection"] == connection_id
        assert alert["labels"]["condition"] == "error"
        assert alert["labels"]["organisation"] == "acme"
        assert _at(alert["startsAt"]) == broken_at
        assert alert["generatorURL"].endswith(f"/connections/{connection_id}/")
        assert alert["annotations"]["reason"]
        assert alert["status"]["state"] == "active"

        amtool = await asyncio.create_subprocess_exec(
            "amtool",
            "alert",
            "query",
            f"--alertmanager.url={alertmanager}",
            f"connection={connection_id}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(amtool.communicate(), 30)
        assert amtool.returncode == 0, err
        assert b"pipepulse_error" in out

        now = datetime.now(UTC)
        silence: dict[str, Any] = {
            "matchers": [{"name": "connection", "value": connection_id, "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "on-call",
            "comment": "known outage",
        }
        made = await am.post("/api/v2/silences", json=silence)
        assert made.status_code == 200, made.text
        silence_id = made.json()["silenceID"]
        [alert] = (await am.get("/api/v2/alerts")).json()
        assert alert["status"]["state"] == "suppressed"
        assert alert["status"]["silencedBy"] == [silence_id]


async def _pipepulse_alerts(alertmanager: str, connection_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=alertmanager) as am:
        found: list[dict[str, Any]] = (await am.get("/api/v2/alerts")).json()
    return [a for a in found if a["labels"].get("connection") == connection_id]


async def test_alertmanager__group_still_firing__posted_again_every_minute_until_it_resolves(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    alertmanager: str,
) -> None:
    # Alertmanager judges endsAt by its own clock: this test's instants lie around the real now.
    clock.now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=6)
    created = await client.post(
        channels_url(tenant),
        json={"name": "am", "kind": "alertmanager", "url": alertmanager},
        headers=tenant.write,
    )
    assert created.status_code == 201, created.text
    connection_id = await make_connection(client, tenant)
    await add_rule(
        client,
        tenant,
        created.json()["id"],
        ["status:error", "recovered"],
        group_by=["connection"],
        group_wait_seconds=0,
        group_interval_seconds=0,
    )
    broken_at = await break_connection(client, tenant, service_key, clock, connection_id)
    await alert_pass(db, alert_settings, clock.now)
    [alert] = await _pipepulse_alerts(alertmanager, connection_id)
    assert _at(alert["startsAt"]) == broken_at
    assert _at(alert["endsAt"]) == clock.now + timedelta(minutes=4)
    assert alert["status"]["state"] == "active"
    first_ends = _at(alert["endsAt"])

    clock.advance(seconds=30)  # not yet a minute: not posted again
    await alert_pass(db, alert_settings, clock.now)
    [alert] = await _pipepulse_alerts(alertmanager, connection_id)
    assert _at(alert["endsAt"]) == first_ends

    clock.advance(seconds=31)  # a minute on: posted again (once, with two schedulers ticking)
    await alert_pass(db, alert_settings, clock.now)
    await alert_pass(db, alert_settings, clock.now)
    [alert] = await _pipepulse_alerts(alertmanager, connection_id)
    assert _at(alert["startsAt"]) == broken_at
    assert _at(alert["endsAt"]) == clock.now + timedelta(minutes=4)

    repaired_at = clock.now + timedelta(minutes=1)
    await push(client, tenant, service_key, clock, connection_id, repaired_at, events=100)
    await alert_pass(db, alert_settings, clock.now)
    assert await _pipepulse_alerts(alertmanager, connection_id) == []  # resolved there

    clock.advance(minutes=2)  # the group closed: nothing posts the alert as firing again
    await alert_pass(db, alert_settings, clock.now)
    assert await _pipepulse_alerts(alertmanager, connection_id) == []


async def test_alertmanager__heartbeats__a_watchdog_alert_that_ends_unless_the_next_one_comes(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    alertmanager: str,
) -> None:
    clock.now = datetime.now(UTC).replace(microsecond=0)
    created = await client.post(
        channels_url(tenant),
        json={"name": "am", "kind": "alertmanager", "url": alertmanager},
        headers=tenant.write,
    )
    channel_id = created.json()["id"]
    set_ = await client.post(
        channels_url(tenant) + channel_id + "/heartbeat/", json={"interval_seconds": 60}, headers=tenant.write
    )
    assert set_.status_code == 200, set_.text
    await alert_pass(db, alert_settings, clock.now, scheduler="host-a:1")
    async with httpx.AsyncClient(base_url=alertmanager) as am:
        [alert] = (await am.get("/api/v2/alerts", params={"filter": "alertname=PipepulseWatchdog"})).json()
    assert alert["labels"]["scheduler"] == "host-a:1"
    assert alert["labels"]["organisation"] == "acme"
    assert alert["status"]["state"] == "active"
    assert _at(alert["endsAt"]) == clock.now + timedelta(minutes=2)


async def _amtool(alertmanager: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "amtool",
        *args,
        f"--alertmanager.url={alertmanager}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err
    return out.decode()


async def test_alertmanager__silenced_with_amtool__stays_silenced_when_posted_again_until_expired(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    alert_settings: Settings,
    clock: FrozenClock,
    alertmanager: str,
) -> None:
    # Alertmanager judges endsAt by its own clock: this test's instants lie around the real now.
    clock.now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    created = await client.post(
        channels_url(tenant),
        json={"name": "am", "kind": "alertmanager", "url": alertmanager},
        headers=tenant.write,
    )
    assert created.status_code == 201, created.text
    connection_id = await make_connection(client, tenant)
    await add_rule(
        client,
        tenant,
        created.json()["id"],
        ["status:error", "recovered"],
        group_by=["connection"],
        group_wait_seconds=0,
        group_interval_seconds=0,
    )
    await break_connection(client, tenant, service_key, clock, connection_id)
    await alert_pass(db, alert_settings, clock.now)
    matcher = f"connection={connection_id}"
    assert "pipepulse_error" in await _amtool(alertmanager, "alert", "query", matcher)

    silence_id = (
        await _amtool(
            alertmanager,
            "silence",
            "add",
            "--author=on-call",
            "--comment=known outage",
            "--duration=1h",
            matcher,
        )
    ).strip()
    [alert] = await _pipepulse_alerts(alertmanager, connection_id)
    assert alert["status"]["state"] == "suppressed"
    assert alert["status"]["silencedBy"] == [silence_id]

    # pipepulse posts the still-firing alert again a minute on: the silence made there holds.
    clock.advance(seconds=61)
    await alert_pass(db, alert_settings, clock.now)
    [alert] = await _pipepulse_alerts(alertmanager, connection_id)
    assert _at(alert["endsAt"]) == clock.now + timedelta(minutes=4)
    assert alert["status"]["state"] == "suppressed"
    assert alert["status"]["silencedBy"] == [silence_id]
    assert "pipepulse_error" not in await _amtool(alertmanager, "alert", "query", matcher)
    assert "pipepulse_error" in await _amtool(alertmanager, "alert", "query", "--silenced", matcher)

    await _amtool(alertmanager, "silence", "expire", silence_id)
    [alert] = await _pipepulse_alerts(alertmanager, connection_id)
    assert alert["status"]["state"] == "active"
