"""`pipepulse demo`, the main job: its story holds, and the real command starts, serves and stops."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pipepulse.auth import scopes
from pipepulse.auth.principals import UserPrincipal
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.demo import CONNECTIONS, LiveFeed, build_history, demo_settings, step
from pipepulse.demo_alerts import Receiver, set_up
from pipepulse.local_loader import LocalDispatcher
from tests.conftest import FrozenClock

STORY = {"healthy": "active", "flaky": "degraded", "broken": "error", "paused": "idle"}


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
    assert statuses == STORY
    assert set(STORY) == {spec.key for spec in CONNECTIONS}


async def test_demo_history__watching__open_incident_week_of_uptime_and_no_noise(
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
    # One rule for the API: durations in whole seconds, instants in whole seconds.
    assert isinstance(incident["duration_seconds"], int)
    assert isinstance(broken["freshness"]["late_by_seconds"], int)
    whole_second = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    assert whole_second.match(incident["started_at"])
    telemetry = (await client.get(url("flaky", "telemetry"), headers=headers)).json()
    assert telemetry["recent_errors"]
    for error in telemetry["recent_errors"]:
        assert whole_second.match(error["occurred_at"]), error
    assert "1 batch moved to the dead-letter queue" in {e["message"] for e in telemetry["recent_errors"]}
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
    # The healthy connection is the one without an anomaly: its hour matches its baseline.
    assert healthy["volume"]["verdict"] == "normal"
    flaky = (await client.get(url("flaky", "health"), headers=headers)).json()
    assert flaky["volume"]["verdict"] == "normal"


@pytest.mark.timeout(600)  # the backfill, then an hour of real loader runs on a busy machine
async def test_demo_story__an_hour_of_live_runs__each_connection_keeps_its_story(
    db: Database, client: httpx.AsyncClient, clock: FrozenClock, settings: Settings, tmp_path: Path
) -> None:
    """The live part continues the backfill: run the demo's scheduler, loader and feed on the
    injected clock for an hour, checking the story every five minutes."""
    handles = await build_history(db, clock.now)
    demo = demo_settings(settings, tmp_path, public_url="http://127.0.0.1:8000")
    assert demo.loader_source_root is not None
    feed = LiveFeed(demo.loader_source_root)
    dispatcher = LocalDispatcher(db, demo, clock)
    printed: list[str] = []
    receiver = Receiver(report=printed.append, clock=lambda: clock.now.timestamp())
    await receiver.start()
    headers = {"Authorization": f"Bearer {handles.token}"}
    base = f"/api/v1/organisations/{handles.organisation_id}/integrations/warehouse-connections/"
    try:
        async with db.session(write=True) as session:
            owner = UserPrincipal("demo", handles.organisation_id, frozenset(scopes.ALL))
            await set_up(session, owner, handles.organisation_id, receiver, clock.now)
        for minute in range(0, 65, 5):
            if minute:
                clock.advance(minutes=5)
            await step(db, demo, dispatcher, feed, clock.now)
            health = {
                key: (await client.get(f"{base}{cid}/health/", headers=headers)).json()
                for key, cid in handles.connection_ids.items()
            }
            assert {key: h["status"] for key, h in health.items()} == STORY, minute
            for key in ("healthy", "flaky"):
                assert health[key]["freshness"]["late"] is False, (minute, key)
                assert health[key]["volume"]["verdict"] == "normal", (minute, key, health[key]["volume"])
            assert health["broken"]["open_incident"] is not None, minute
            assert health["broken"]["freshness"]["late"] is True, minute
        # The live hour 12:00-13:00 is now the latest complete hour: its runs are all live.
        assert health["healthy"]["volume"]["hour"].startswith("2026-04-20T12:00")
        runs = (
            await client.get(f"{base}{handles.connection_ids['healthy']}/metrics/", headers=headers)
        ).json()
        live = [r for r in runs["items"] if r["started_at"] >= "2026-04-20T12:00"]
        # The backfill's last run (11:55 and some seconds) set the next one five minutes on:
        # the first live run takes the 12:00 and 12:05 files together, then one a slot.
        assert len(live) == 12
        assert all(r["events_delivered"] > 0 for r in live)
        # One rule covers every connection: the designed error notified, nothing else did (the
        # flaky connection's degraded alert is silenced).
        assert any("Finance replica is in Error" in line for line in printed), printed
        assert not any("Marketing events" in line for line in printed), printed
        assert not any("Analytics warehouse" in line for line in printed), printed
    finally:
        await receiver.close()
        await dispatcher.close()


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
        assert len(connections) == len(CONNECTIONS) + 1  # and the OpenLineage-fed one
        # The scheduler ticks at once: /readyz sees its heartbeat.
        deadline = time.monotonic() + 60
        while True:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
            if ready.status_code == 200:
                break
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.5)
        assert "Prometheus:" in output
        metrics_token = re.search(r"Prometheus:\s+curl -H 'Authorization: Bearer (\S+)'", output)
        assert metrics_token, output
        scrape = httpx.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": f"Bearer {metrics_token.group(1)}"},
            timeout=10,
        )
        assert 'connection="Analytics warehouse"' in scrape.text
        for spec in CONNECTIONS:
            assert spec.story in output
        assert ready.json()["checks"] == {"database": "ok", "scheduler": "ok"}
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "pipepulse demo stopped." in rest


@pytest.mark.timeout(300)
def test_scripts_demo__without_promtool_apt_or_sudo__starts_the_demo(tmp_path: Path) -> None:
    """`scripts/demo` asks only for what the demo uses: on a PATH with nothing but a shell and
    Python (no promtool, no apt-get, no sudo, no chromium) it installs pipepulse and serves."""
    repo = Path(__file__).resolve().parent.parent
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "touch", "python3", "env"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEPULSE_")}
    env["PATH"] = str(bin_dir)
    env["PIPEPULSE_DATA_DIR"] = str(tmp_path / "data")
    process = subprocess.Popen(
        [str(repo / "scripts" / "demo"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        output = ""
        deadline = time.monotonic() + 240
        while "Ctrl-C" not in output and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output += line
        assert f"http://127.0.0.1:{port}/" in output, output
        assert "promtool" not in output
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output + rest
