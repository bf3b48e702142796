"""The README's walk-through runs verbatim: its bash blocks, in order, in one shell, give the
answers the README shows (the repeated report really is a no-op 204)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PORT = 8001


def walkthrough_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Walk-through") : text.index("## For machines")]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


def test_readme_walkthrough__names_its_tools() -> None:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Walk-through") : text.index("## For machines")]
    for tool in ("`jq`", "GNU `date`", "`curl`"):
        assert tool in section


@pytest.mark.timeout(300)
def test_readme_walkthrough__runs_verbatim__answers_as_shown(tmp_path: Path) -> None:
    for tool in ("jq", "curl", "date"):
        assert shutil.which(tool), f"the walk-through needs {tool}"
    # The SQLite and PostgreSQL suites run side by side on one machine, and both walk through
    # on the same port: one at a time, or both see the port free, both serve, and one's curls
    # reach the other's server.
    lock_path = Path(tempfile.gettempdir()) / f"pipepulse-walkthrough-{PORT}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # The walk-through serves on a fixed port (it is what the README says); another run of this
        # test (the other database's suite on the same machine) may hold it for a minute.
        deadline = time.monotonic() + 90
        while _port_taken():
            if time.monotonic() > deadline:
                pytest.fail(f"port {PORT} is taken; the walk-through serves there")
            time.sleep(1)
        blocks = walkthrough_blocks()
        assert len(blocks) >= 6
        patch = next(i for i, b in enumerate(blocks) if "-X PATCH" in b)
        marker = "echo '=== {} ==='"
        script = ["set -euo pipefail"]
        for i, block in enumerate(blocks):
            # The README asks to run the report block twice: the repeat must be a no-op too.
            for _ in range(2 if i == patch else 1):
                script += [marker.format(i), block]
        script += ["kill %1"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEPULSE_")}
        env["HOME"] = str(tmp_path)
        done = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    outputs: dict[str, list[str]] = {}
    current = ""
    for line in done.stdout.splitlines():
        found = re.fullmatch(r"=== (\d+) ===", line)
        if found:
            current = found.group(1)
            outputs.setdefault(current, [])
            outputs[current].append("")
        else:
            outputs[current][-1] += line + "\n"
    # Each block gives the answers written under it in "# …" comments.
    for i, block in enumerate(blocks):
        shown = [line[2:] for line in block.splitlines() if line.startswith("# ")]
        for run in outputs.get(str(i), []):
            got = [line for line in run.splitlines() if line]
            # In order; a block may print more (the server's own "serving on" line).
            rest = iter(got)
            assert all(any(line == answer for line in rest) for answer in shown), (i, block, run)
    assert outputs[str(patch)] == ["204\n", "204\n"]
    telemetry_block = next(i for i, b in enumerate(blocks) if "/telemetry/" in b)
    telemetry = json.loads(outputs[str(telemetry_block)][0])
    text = (REPO / "README.md").read_text()
    example = json.loads(re.search(r"```json\n(.*?)```", text, flags=re.S).group(1))  # type: ignore[union-attr]
    for field in ("status", "events_last_24h", "events_last_7d", "failed_deliveries_last_24h"):
        assert telemetry[field] == example[field], field
    assert [e["message"] for e in telemetry["recent_errors"]] == [
        e["message"] for e in example["recent_errors"]
    ]


def _port_taken() -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", PORT)) == 0
