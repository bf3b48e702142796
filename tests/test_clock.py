"""One clock: only ``pipepulse/clock.py`` reads the wall clock; everything else is given ``now``.

A small AST lint, run with the suite on both databases: a windowed rule that reads the wall
clock instead of the evaluation instant answers correctly in every test that freezes a recent
instant and wrongly in production, so no source file but the clock module may call
``datetime.now``, ``datetime.utcnow``, ``datetime.today``, ``date.today``, ``time.time``,
``time.time_ns``, ``time.localtime``, ``time.gmtime``, ``time.ctime`` or ``time.asctime``
(however imported). Monotonic clocks (``time.monotonic``, ``time.perf_counter``) measure
durations, not instants, and are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pipepulse"
CLOCK_MODULE = SRC / "clock.py"

BANNED = {
    "datetime": {"now", "utcnow", "today"},
    "date": {"today"},
    "time": {"time", "time_ns", "localtime", "gmtime", "ctime", "asctime"},
}


def wall_clock_reads(source: str) -> list[str]:
    """Each read of the wall clock in ``source``, as ``line: expression``."""
    tree = ast.parse(source)
    found: list[str] = []
    # Names bound by `from time import time`, `from datetime import date as d`, ….
    direct: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("time", "datetime"):
            for alias in node.names:
                local = alias.asname or alias.name
                if node.module == "time" and alias.name in BANNED["time"]:
                    direct[local] = f"time.{alias.name}"
                elif node.module == "datetime" and alias.name in ("datetime", "date"):
                    direct[local] = alias.name
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in ("time", "datetime"):
                    direct[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and direct.get(func.id, "").startswith("time."):
            found.append(f"{node.lineno}: {direct[func.id]}()")
        if not isinstance(func, ast.Attribute):
            continue
        owner = func.value
        # datetime.datetime.now(), datetime.date.today()
        if isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name):
            if direct.get(owner.value.id) == "datetime" and func.attr in BANNED.get(owner.attr, set()):
                found.append(f"{node.lineno}: datetime.{owner.attr}.{func.attr}()")
        if isinstance(owner, ast.Name) and owner.id in direct:
            kind = direct[owner.id]
            if func.attr in BANNED.get(kind, set()):
                found.append(f"{node.lineno}: {kind}.{func.attr}()")
    return found


def source_files() -> list[Path]:
    return sorted(path for path in SRC.rglob("*.py") if path != CLOCK_MODULE)


def test_clock__source_tree__only_the_clock_module_reads_the_wall_clock() -> None:
    offenders = {
        str(path.relative_to(SRC.parent)): reads
        for path in source_files()
        if (reads := wall_clock_reads(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, (
        f"read the time through pipepulse.clock.utc_now (or take `now` as an argument): {offenders}"
    )


def test_clock__the_clock_module__is_the_one_that_reads_it() -> None:
    assert wall_clock_reads(CLOCK_MODULE.read_text(encoding="utf-8")) != []


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime, UTC\nx = datetime.now(UTC)",
        "from datetime import datetime\nx = datetime.utcnow()",
        "import datetime\nx = datetime.datetime.now()",
        "import datetime as dt\nx = dt.date.today()",
        "from datetime import date\nx = date.today()",
        "from datetime import datetime as D\nx = D.today()",
        "import time\nx = time.time()",
        "import time as t\nx = t.time_ns()",
        "from time import time\nx = time()",
        "from time import gmtime as g\nx = g()",
    ],
)
def test_clock__lint__catches_every_spelling(source: str) -> None:
    assert len(wall_clock_reads(source)) == 1, source


@pytest.mark.parametrize(
    "source",
    [
        "import time\nx = time.monotonic()",
        "import time\ntime.sleep(1)",
        "from datetime import datetime\nx = datetime.fromisoformat('2031-01-01')",
        "def f(now):\n    return now()",
    ],
)
def test_clock__lint__leaves_durations_and_given_instants_alone(source: str) -> None:
    assert wall_clock_reads(source) == []
