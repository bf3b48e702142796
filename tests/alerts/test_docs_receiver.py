"""The receiver example in docs/alerts.md works as printed, as a real process."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from pipepulse.app import create_app
from pipepulse.clock import utc_now
from pipepulse.config import Settings
from pipepulse.db.session import Database
from tests.alerts.world import channels_url
from tests.conftest import Tenant

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


def test_docs__receiver_example__is_ten_lines() -> None:
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert code is not None
    assert len([line for line in code.group(1).splitlines() if line.strip()]) == 10


async def test_docs__receiver_example__verifies_and_prints_a_test_send(
    alert_settings: Settings, db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    # The example checks signatures against its own clock, so this app signs with the real one.
    app = create_app(alert_settings, clock=utc_now, database=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        await _send_test(client, tenant, tmp_path)


async def _send_test(client: httpx.AsyncClient, tenant: Tenant, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    created = await client.post(
        channels_url(tenant),
        json={"name": "docs", "kind": "webhook", "url": f"http://127.0.0.1:{port}/"},
        headers=tenant.write,
    )
    channel = created.json()
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert code is not None
    script = code.group(1).replace('"whsec_…"', repr(channel["signing_secret"])).replace("8080", str(port))
    (tmp_path / "receiver.py").write_text(script)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-u", str(tmp_path / "receiver.py"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the example receiver did not start"
            await asyncio.sleep(0.05)
        result = await client.post(channels_url(tenant) + channel["id"] + "/test/", headers=tenant.write)
        assert result.json() == {"delivered": True, "status_code": 204, "error": None}
    finally:
        process.terminate()
        out, _ = await asyncio.wait_for(process.communicate(), timeout=10)
    assert re.match(r"ntf_[0-9a-f]+ test \[\]", out.decode().strip())
