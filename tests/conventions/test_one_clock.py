"""One clock: only ``pipepulse/clock.py`` reads the wall clock; everything else is given ``now``.

A small AST lint, run with the suite on both databases: a windowed rule that reads the wall
clock instead of the evaluation instant answers correctly in every test that freezes a recent
instant and wrongly in production, so no source file but the clock module may call or name
``datetime.now``, ``datetime.utcnow``, ``datetime.today``, ``date.today``, ``time.time``,
``time.time_ns``, ``time.localtime``, ``time.gmtime``, ``time.ctime`` or ``time.asctime``
(however imported; naming one without calling it, as a ``default_factory`` or a clock handed
on, reads the wall clock later just the same). Monotonic clocks (``time.monotonic``,
``time.perf_counter``, ``time.process_time``) measure durations, not instants, and are allowed.

And the clock module's ``utc_now`` is read only where a clock is put together: in the entry
points (:data:`ENTRY_POINTS`, where a process, command or app starts and hands its clock on) or
as the default of a parameter (the caller may give its own, as every test does). A call deep
inside a feature reads the time the caller cannot set; :data:`EXCEPTIONS` lists, each with its
reason, the places that may all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pipepulse

SRC = Path(pipepulse.__file__).parent
CLOCK_MODULE = SRC / "clock.py"

BANNED = {
    "datetime": {"now", "utcnow", "today"},
    "date": {"today"},
    "time": {"time", "time_ns", "localtime", "gmtime", "ctime", "asctime"},
}


def wall_clock_reads(source: str) -> list[str]:
    """Each read (a call or a reference) of the wall clock in ``source``, as ``line: expression``."""
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
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if direct.get(node.id, "").startswith("time."):
                found.append(f"{node.lineno}: {direct[node.id]}")
            continue
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        # datetime.datetime.now, datetime.date.today
        if isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name):
            if direct.get(owner.value.id) == "datetime" and node.attr in BANNED.get(owner.attr, set()):
                found.append(f"{node.lineno}: datetime.{owner.attr}.{node.attr}")
        if isinstance(owner, ast.Name) and owner.id in direct:
            kind = direct[owner.id]
            if node.attr in BANNED.get(kind, set()):
                found.append(f"{node.lineno}: {kind}.{node.attr}")
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
        # Named, not called: read later by whoever calls it.
        "from datetime import datetime\nstamp = field(default_factory=datetime.now)",
        "import time\ndef f(clock=time.time):\n    return clock()",
    ],
)
def test_clock__lint__catches_every_spelling(source: str) -> None:
    assert len(wall_clock_reads(source)) == 1, source


@pytest.mark.parametrize(
    "source",
    [
        "import time\nx = time.monotonic()",
        "import time\nx = time.perf_counter() - time.process_time()",
        "import time\ntime.sleep(1)",
        "from datetime import datetime\nx = datetime.fromisoformat('2031-01-01')",
        "def f(now):\n    return now()",
    ],
)
def test_clock__lint__leaves_durations_and_given_instants_alone(source: str) -> None:
    assert wall_clock_reads(source) == []


# Where a process or a command starts: each reads the clock and hands it on. (The app's clock,
# app.state.clock, is create_app's parameter: its default is enough.)
ENTRY_POINTS = {
    "cli.py": "the commands (serve, scheduler, org, token, service-key) start here",
    "retention/cli.py": "`pipepulse retention` starts here",
    "rollups/cli.py": "`pipepulse rollups` starts here",
    "demo.py": "`pipepulse demo` starts here and runs its scheduler on this clock",
}
# Reads of utc_now neither in an entry point nor a parameter's default, each with its reason.
EXCEPTIONS = {
    "wire/webhook_signature.py": (
        "verify() is the receivers' function (docs/alerts.md): its `now` is a parameter, and "
        "the system clock is read only when a receiver leaves it out"
    ),
}


def clock_reads(source: str) -> list[str]:
    """Each use of pipepulse.clock.utc_now in ``source`` that is not a parameter's default."""
    tree = ast.parse(source)
    names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "pipepulse.clock"
        for alias in node.names
        if alias.name == "utc_now"
    }
    defaults = {
        id(default)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for default in [*node.args.defaults, *node.args.kw_defaults]
        if default is not None
    }
    return [
        f"{node.lineno}: {node.id}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Name)
        and isinstance(node.ctx, ast.Load)
        and node.id in names
        and id(node) not in defaults
    ]


def test_clock__source_tree__utc_now_read_only_where_a_clock_is_put_together() -> None:
    offenders = {
        name: reads
        for path in source_files()
        if (name := path.relative_to(SRC).as_posix()) not in ENTRY_POINTS | EXCEPTIONS
        and (reads := clock_reads(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, f"take `now` or a clock as an argument (its default may be utc_now): {offenders}"


def test_clock__entry_points_and_exceptions__exist_and_read_the_clock() -> None:
    # A listed file that no longer reads the clock is a stale entry: take it off the list.
    for name in ENTRY_POINTS | EXCEPTIONS:
        path = SRC / name
        assert path.exists(), name
        assert clock_reads(path.read_text(encoding="utf-8")) != [], name


@pytest.mark.parametrize(
    ("source", "reads"),
    [
        ("from pipepulse.clock import utc_now\nx = utc_now()", 1),
        ("from pipepulse.clock import utc_now as now\nstamp = now().timestamp()", 1),
        ("from pipepulse.clock import utc_now\nclock = utc_now", 1),
        ("from pipepulse.clock import utc_now\ndef f(now=utc_now):\n    return now()", 0),
        ("from pipepulse.clock import utc_now\ndef f(*, clock=utc_now):\n    return clock()", 0),
        ("from pipepulse.clock import utc_now\ndef f(now):\n    return now", 0),
    ],
)
def test_clock__utc_now_lint__defaults_pass_calls_are_found(source: str, reads: int) -> None:
    assert len(clock_reads(source)) == reads, source
