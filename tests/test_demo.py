"""`pipepulse demo`, the main job: its story holds, and the real command starts, serves and stops."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from pipepulse.db.session import Database
from pipepulse.demo import build_history
from tests.conftest import FrozenClock


async def test_demo_history__four_connections__each_tells_its_story(
    db: Database, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    handles = await build_history(db, clock.now)
    headers = {"Authorization": f"Bearer {handles.token}"}
    base = f"/api/v1/organisations/{handles.organisation_id}/integrations/warehouse-connections/"
    statuses = {}
    for key, connection_id in handles.connection_ids.items():
        telemetry = (await client.get(f"{base}{connection_id}/telemetry/", headers=headers)).json()
        statuses[key] = telemetry["status"]
        if key != "broken":
            assert telemetry["events_last_7d"]["total"] > 0, key
    assert statuses == {"healthy": "active", "flaky": "degraded", "broken": "error", "paused": "idle"}


async def test_demo_history__watching__open_incident_week_of_uptime_and_a_volume_drop(
    db: Database, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    handles = await build_history(db, clock.now)
    headers = {"Authorization": f"Bearer {handles.token}"}
    base = f"/api/v1/organisations/{handles.organisation_id}/integrations/warehouse-connections/"

    def url(key: str, path: str) -> str:
        return f"{base}{handles.connection_ids[key]}/{path}/"

    broken = (await client.get(url("broken", "health"), headers=headers)).json()
    incident = broken["open_incident"]
    assert incident is not None
    assert incident["ended_at"] is None
    assert incident["started_at"] == broken["since"]
    assert incident["first_error"].startswith("destination unreachable")
    assert 17 * 3600 < incident["duration_seconds"] < 20 * 3600
    assert broken["freshness"]["late"] is True

    week = (await client.get(url("healthy", "status-history"), headers=headers)).json()
    assert week["uptime_percent"] == 100.0
    assert week["incidents"] == []
    # Idle only before its first backfilled run finished, then active all week.
    assert [i["status"] for i in week["intervals"]][-1:] == ["active"]
    assert {i["status"] for i in week["intervals"]} <= {"idle", "active"}

    healthy = (await client.get(url("healthy", "health"), headers=headers)).json()
    assert healthy["status"] == "active"
    assert healthy["freshness"]["late"] is False
    assert healthy["volume"]["baseline"] == "ok"
    assert healthy["volume"]["verdict"] == "drop"
    assert healthy["volume"]["actual"] < healthy["volume"]["lower"]
    flaky = (await client.get(url("flaky", "health"), headers=headers)).json()
    assert flaky["volume"]["verdict"] == "normal"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.timeout(300)  # a week of backfill, then the scheduler's first tick, on a busy machine
def test_demo_command__serves_api_and_dashboard__stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEPULSE_")}
    env["PIPEPULSE_DATA_DIR"] = str(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipepulse", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        output = ""
        deadline = time.monotonic() + 90
        while "Ctrl-C" not in output and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output += line
        token = re.search(r"Token:\s+(\S+)", output)
        assert token, output
        assert f"http://127.0.0.1:{port}/" in output
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        orgs = httpx.get(f"http://127.0.0.1:{port}/api/v1/organisations/", headers=headers, timeout=10)
        assert orgs.status_code == 200
        assert orgs.json()["items"][0]["slug"] == "acme"
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200
        assert "token" in page.text.lower()
        connections = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/organisations/1/integrations/warehouse-connections/",
            headers=headers,
            timeout=10,
        ).json()["items"]
        assert len(connections) == 5  # the four loaders' and the OpenLineage-fed one
        # The scheduler ticks at once: /readyz sees its heartbeat, and the healthy connection
        # gets a run the backfill could not have made (the backfill's newest is an hour old).
        healthy = next(c["id"] for c in connections if c["name"] == "Analytics warehouse")
        runs_url = f"http://127.0.0.1:{port}/api/v1/organisations/1/integrations/warehouse-connections/{healthy}/metrics/"
        fresh_after = datetime.now(UTC) - timedelta(minutes=30)
        deadline = time.monotonic() + 60
        while True:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
            newest = httpx.get(runs_url, headers=headers, timeout=10).json()["items"][0]
            started = datetime.fromisoformat(newest["started_at"].replace("Z", "+00:00"))
            if ready.status_code == 200 and started > fresh_after:
                break
            assert time.monotonic() < deadline, (ready.text, newest)
            time.sleep(0.5)
        assert ready.json()["checks"] == {"database": "ok", "scheduler": "ok"}
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "pipepulse demo stopped." in rest
