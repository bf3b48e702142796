"""One logger naming scheme: every module logs on ``logging.getLogger(__name__)``, so a
record's logger names the module that wrote it and ``pipepulse`` is the parent of them all
(ids travel as ``extra=`` fields, not in the logger's name)."""

from __future__ import annotations

import ast
from pathlib import Path

import pipepulse

SRC = Path(pipepulse.__file__).parent


def named_otherwise(source: str) -> list[int]:
    """Lines of ``getLogger(...)`` calls whose argument is not ``__name__``."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "getLogger"
        and not (len(node.args) == 1 and isinstance(node.args[0], ast.Name) and node.args[0].id == "__name__")
    ]


# Modules that configure where lines go rather than write any: they name the root and the
# package's logger (``pipepulse``) on purpose.
CONFIGURES = {"log_output.py"}


def test_loggers__every_module__logs_on_its_own_name() -> None:
    found = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if (lines := named_otherwise(path.read_text(encoding="utf-8")))
    }
    assert {name: lines for name, lines in found.items() if name not in CONFIGURES} == {}
    # The exception is not stale, and it writes no line of its own.
    assert set(found) >= CONFIGURES
    assert "log = " not in (SRC / "log_output.py").read_text(encoding="utf-8")


def test_loggers__a_hand_written_name__is_found() -> None:
    assert named_otherwise('log = logging.getLogger("pipepulse.alerts")') == [1]
    assert named_otherwise("log = logging.getLogger(__name__)") == []
