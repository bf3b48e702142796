"""What differs between SQLite and PostgreSQL, in one place.

Feature code never tests a dialect's name: it asks this module for an upsert, a set
membership test, the larger of two values, the newest rows per key, or a timestamp read
back from an aggregate, and gets the form that dialect wants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    any_,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import TypeEngine

POSTGRESQL = "postgresql"
# SQLite refuses compound SELECTs of more than 500 parts; keep well under it.
SQLITE_KEYS_PER_STATEMENT = 100


def name_of(session: AsyncSession | AsyncConnection) -> str:
    """The dialect's name, for keying statements that are built once per dialect."""
    if isinstance(session, AsyncConnection):
        return session.dialect.name
    return session.get_bind().dialect.name


T = TypeVar("T")


class PerDatabase(Generic[T]):
    """One implementation of a query for each database, the right one chosen by the session.

    Feature code declares both forms side by side and asks for the session's; it never tests
    a dialect's name itself (Prefect's ``query_components`` do the same per database class).
    """

    def __init__(self, *, postgresql: T, sqlite: T) -> None:
        self._by_dialect = {POSTGRESQL: postgresql, "sqlite": sqlite}

    def of(self, session: AsyncSession) -> T:
        return self._by_dialect[name_of(session)]


def claiming(session: AsyncSession, query: Select[Any], of: Any) -> Select[Any]:
    """``query`` taking row locks on ``of`` and skipping rows another transaction holds
    (``FOR NO KEY UPDATE SKIP LOCKED``) where the database has row locks (PostgreSQL); on SQLite
    a write transaction already serialises every claim, so the query is left as it is.

    ``NO KEY``: a claim changes no key, so rows that merely reference a claimed row (a report's
    new rollup row, a stored answer: their foreign-key checks take ``KEY SHARE``) need not wait
    for it. A plain ``FOR UPDATE`` made them wait, and a report waiting on a seeding claim while
    the seeding waited on the report's stored answer was a deadlock."""
    if name_of(session) == POSTGRESQL:
        return query.with_for_update(skip_locked=True, key_share=True, of=of)
    return query


async def serialise(session: AsyncSession, key: int) -> None:
    """Hold a lock named ``key`` until the transaction ends, so that two transactions doing the
    same check-then-create take turns (PostgreSQL's ``pg_advisory_xact_lock``). SQLite's write
    transactions are serialised already, so there is nothing to take."""
    if name_of(session) == POSTGRESQL:
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def insert(dialect: str, table: Any) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    return postgresql.insert(table) if dialect == POSTGRESQL else sqlite.insert(table)


def greatest(dialect: str) -> Any:
    """The larger of two values (SQLite's two-argument ``max()`` is the scalar form)."""
    return func.greatest if dialect == POSTGRESQL else func.max


def one_of(session: AsyncSession, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL as ``= ANY(array)``: one parameter, not hundreds to render."""
    if name_of(session) == POSTGRESQL:
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(String)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


def completes_in_one_statement(dialect: str) -> bool:
    """Whether completing runs and rolling them up is one statement of data-modifying CTEs
    (PostgreSQL: see rollups/set_based.py); elsewhere it is a transaction of several."""
    return dialect == POSTGRESQL


def numbered_strings(name: str) -> Any:
    """A list of strings bound to ``name`` as rows ``(value, ord)``, ``ord`` counting from 1
    (``unnest(:name) WITH ORDINALITY``): PostgreSQL only, for statements built for it alone."""
    array = bindparam(name, type_=postgresql.ARRAY(String))
    return func.unnest(array).table_valued("value", with_ordinality="ord").render_derived(name=name)


def in_param(dialect: str, column: Any, name: str) -> ColumnElement[bool]:
    """``column IN :name`` for a statement built once: bind a list of strings to ``name``."""
    if dialect == POSTGRESQL:
        return column == any_(bindparam(name, type_=postgresql.ARRAY(String)))  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


def plus_seconds(dialect: str, instant: Any, seconds: Any) -> Any:
    """``instant`` plus a bound number of whole ``seconds``, to the microsecond. SQLite keeps
    instants as fixed-width text: its ``datetime()`` is given the whole seconds alone (it reads a
    fraction to the millisecond, so from .9995 s on it would carry a second) and the fraction is
    put back."""
    if dialect == POSTGRESQL:
        return instant + seconds * literal_column("interval '1 second'")
    return func.datetime(func.substr(instant, 1, 19), func.printf("+%d seconds", seconds)).op("||")(
        func.substr(instant, 20)
    )


def clock_seconds(dialect: str) -> Any:
    """The database's own clock, as seconds since the epoch (SQL)."""
    if dialect == POSTGRESQL:
        return func.extract("epoch", func.now())
    return (func.julianday("now") - 2440587.5) * 86400.0


def utc_day(dialect: str, instant: Any) -> Any:
    """The UTC calendar day of an instant (a value to compare, not to read back)."""
    if dialect == POSTGRESQL:
        return func.date_trunc("day", func.timezone("UTC", instant))
    return func.substr(instant, 1, 10)


def bytewise(dialect: str, column: Any) -> Any:
    """``column`` ordered by its bytes, as Python orders strings (SQLite's default already)."""
    return column.collate("C") if dialect == POSTGRESQL else column


def as_utc(value: Any) -> datetime | None:
    """Aggregates over UTC columns can come back untyped (text on SQLite); make them aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def keys_per_statement(dialect: str) -> int:
    """How many keys one :func:`newest_per_key` statement may carry."""
    return 5_000 if dialect == POSTGRESQL else SQLITE_KEYS_PER_STATEMENT


def chunks(session: AsyncSession | AsyncConnection, ids: Sequence[T]) -> list[Sequence[T]]:
    """``ids`` cut into the pieces one statement of this session's database may carry."""
    size = keys_per_statement(name_of(session))
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def key_slots(dialect: str, count: int) -> int:
    """The shape a :func:`newest_per_key` statement is built for: the key count on SQLite
    (bound parameters per key), 0 on PostgreSQL (one array per key column, whatever its length)."""
    return 0 if dialect == POSTGRESQL else count


KeyColumns = dict[str, TypeEngine[Any]]
STRING_KEY: KeyColumns = {"key": String()}


def key_params(
    dialect: str, keys: Sequence[Mapping[str, Any]], columns: KeyColumns = STRING_KEY
) -> dict[str, Any]:
    """The parameters binding ``keys`` (one mapping of key column → value per key)."""
    if dialect == POSTGRESQL:
        return {f"newest_{c}": [k[c] for k in keys] for c in columns}
    return {f"newest_{c}_{i}": k[c] for i, k in enumerate(keys) for c in columns}


PerKey = Callable[[Any], Select[Any]]


def newest_per_key(
    dialect: str,
    slots: int,
    parts: dict[str, PerKey],
    columns: KeyColumns = STRING_KEY,
    *,
    extra: Sequence[Select[Any]] = (),
) -> Any:
    """One statement answering, for every key and every part, the rows ``part(key)`` selects.

    A key is a row of ``columns`` (by default one string, ``key``). Each ``part`` builds an
    ordered, limited SELECT for one key, given the key's columns as attributes; the result
    has columns ``part``, the key columns, then the part's own. PostgreSQL runs one LATERAL
    join per part over the key arrays, each probe answered from the end of an index. SQLite
    has no LATERAL: it gets one small ordered SELECT per key and part, for ``slots`` keys
    (see :func:`key_slots`; at most :func:`keys_per_statement`). Bind with :func:`key_params`.
    ``extra`` selects of the same columns (``part``, the key columns, the part's own) ride in
    the same statement. Build it once per shape: construction costs more than running it.
    """
    selects: list[Select[Any]] = []
    if dialect == POSTGRESQL:
        arrays = [bindparam(f"newest_{c}", type_=postgresql.ARRAY(t)) for c, t in columns.items()]
        keys = func.unnest(*arrays).table_valued(*columns).render_derived(name="keys")
        for name, part in parts.items():
            inner = part(keys.c).lateral()
            selects.append(
                select(literal(name).label("part"), *keys.c, *inner.c).select_from(keys).join(inner, true())
            )
    else:
        for i in range(slots):
            key = SimpleNamespace(**{c: bindparam(f"newest_{c}_{i}", type_=t) for c, t in columns.items()})
            for name, part in parts.items():
                subquery = part(key).subquery()
                labels = [getattr(key, c).label(c) for c in columns]
                selects.append(select(literal(name).label("part"), *labels, *subquery.c))
    selects += extra
    return selects[0] if len(selects) == 1 else union_all(*selects)
