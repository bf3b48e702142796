"""What differs between SQLite and PostgreSQL lives in ``db/``: no module outside it tests a
dialect's name or a database capability. Feature code asks a per-database strategy
(``dialect.PerDatabase``) for the form its database wants instead of branching itself.

The check reads every module's syntax tree. It is tested on planted violations of each kind
below, so it cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import pipepulse

SRC = Path(pipepulse.__file__).parent
DIALECT_NAMES = frozenset({"postgresql", "postgres", "sqlite"})
# Names of dialect constants (db/dialect.py's POSTGRESQL) and of capability tests.
DIALECT_CONSTANT = re.compile(r"^(POSTGRES(QL)?|SQLITE)$")
CAPABILITY = re.compile(
    r"^(is_(postgres|postgresql|sqlite|pg)|supports_\w+|sums_json|completes_in_one_statement)$"
)
# Modules that compare such words for something other than pipepulse's own database: the
# reference loader's destination warehouse URL (postgresql:// or duckdb://).
NOT_OUR_DATABASE = {("loader", "destinations.py")}


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _names_a_dialect(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.lower() in DIALECT_NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_a_dialect(e) for e in node.elts)
    name = _name(node)
    return name is not None and (bool(DIALECT_CONSTANT.match(name)) or name == "dialect")


def violations(source: str) -> list[str]:
    """Each place in ``source`` that tests a dialect name or a capability, as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare) and any(
            _names_a_dialect(side) for side in [node.left, *node.comparators]
        ):
            found.append(f"{line}: compares a dialect")
        elif isinstance(node, ast.Attribute) and node.attr == "name" and _name(node.value) == "dialect":
            found.append(f"{line}: reads dialect.name")
        elif isinstance(node, ast.Name | ast.Attribute) and CAPABILITY.match(_name(node) or ""):
            found.append(f"{line}: asks a capability ({_name(node)})")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "startswith"
            and any(
                isinstance(a, ast.Constant) and str(a.value).lower().startswith(("sqlite", "postgres"))
                for a in node.args
            )
        ):
            found.append(f"{line}: tests a URL's dialect")
    return sorted(set(found), key=lambda f: int(f.split(":")[0]))


def _modules_outside_db() -> list[Path]:
    return [
        path
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).parts[0] != "db" and (path.parent.name, path.name) not in NOT_OUR_DATABASE
    ]


def test_dialect__modules_outside_db__test_no_dialect_name_or_capability() -> None:
    modules = _modules_outside_db()
    assert len(modules) > 100  # the walk found the package
    found = {
        str(path.relative_to(SRC)): v
        for path in modules
        if (v := violations(path.read_text(encoding="utf-8")))
    }
    assert found == {}, "move these behind db/dialect.py (a dialect.PerDatabase):\n" + "\n".join(
        f"  {module}: {', '.join(v)}" for module, v in found.items()
    )


@pytest.mark.parametrize(
    "planted",
    [
        'if session.get_bind().dialect.name == "postgresql":\n    pass',
        "x = engine.dialect.name",
        'if self._db.dialect != "postgresql":\n    pass',
        "if name == POSTGRESQL:\n    pass",
        'flag = backend in ("sqlite", "other")',
        "if dialect.sums_json(name):\n    pass",
        "if settings.is_sqlite:\n    pass",
        "ok = is_postgres(session)",
        "if db.supports_returning:\n    pass",
        'if url.startswith("sqlite"):\n    pass',
    ],
)
def test_dialect__planted_violation__is_found(planted: str) -> None:
    assert violations(planted), planted


@pytest.mark.parametrize(
    "fine",
    [
        "stmt = dialect.insert(dialect.name_of(session), Run)",
        "rows = EDGES.of(session).summed(windows)",
        'kind = "postgresql"',
        'if outcome == "failed":\n    pass',
    ],
)
def test_dialect__asking_the_strategy__is_not_a_violation(fine: str) -> None:
    assert violations(fine) == []
