"""Edge tables: a run placed exactly on a window's edge, one second inside and one outside.

Every window the service reads or cuts is written down here once, with the rule the docs give
for it (SPEC §3 ``now - 24h < time <= now``, §7.1 half-open ``[start, end)``, metrics-api.md's
half-open ranges and buckets, operations.md's "older than" for retention, §7.2's "exceeds" for
freshness). ``tests/test_edges.py`` runs each table through the HTTP API on the test database,
so every case runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# The suite's instant: a Monday, exactly on the hour, so hour, day and week edges all meet here.
NOW = datetime(2026, 4, 20, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Edge:
    """One row of an edge table: ``edge + offset`` and what the rule says about it."""

    edge: str  # the edge's name, for the test id
    at: timedelta  # the edge, relative to the table's anchor
    offset: int  # -1, 0 or +1 seconds
    expected: Any

    @property
    def instant(self) -> timedelta:
        return self.at + self.offset * SECOND

    @property
    def id(self) -> str:
        where = {-1: "1s_before", 0: "exactly_on", 1: "1s_after"}[self.offset]
        return f"{self.edge}__{where}"


def around(edge: str, at: timedelta, before: Any, on: Any, after: Any) -> list[Edge]:
    """The three rows of one edge: one second before it, exactly on it, one second after."""
    return [Edge(edge, at, -1, before), Edge(edge, at, 0, on), Edge(edge, at, 1, after)]


def table(rows: Iterable[Edge]) -> Any:
    """``pytest.mark.parametrize`` over the rows of an edge table, named by edge and side."""
    rows = list(rows)
    return pytest.mark.parametrize("row", rows, ids=[row.id for row in rows])
