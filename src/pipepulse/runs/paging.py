"""One page of a connection's runs, newest first, found by its place in that order (keyset).

A page is read from a run's key, ``(started_at, id)``: runs that arrive meanwhile never move
the rows of a page past the first, as an offset would. The dashboard's runs table reads its
pages here; the key's URL form is :func:`format_key`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import Run, WarehouseConnection
from pipepulse.rules import Thresholds
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import RunOut

RUNS_PAGE_SIZE = 25
KEY_SEPARATOR = "~"  # never in a run id ([A-Za-z0-9_-])

RunKey = tuple[datetime, str]


def format_key(started_at: datetime, run_id: str) -> str:
    """A run's place in the newest-first order, as a URL value: its start (to the
    microsecond) and its id."""
    return started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + KEY_SEPARATOR + run_id


@dataclass(frozen=True)
class RunsPage:
    """One page of the runs table, found by its place in the newest-first order (keyset):
    runs that arrive meanwhile never move the rows of a page past the first."""

    rows: list[RunOut]
    keys: dict[str, str]  # run id → its key
    newest: bool  # no run is newer than the first row: this is the live head of the list
    has_older: bool
    total: int
    failing_only: bool

    @property
    def first_key(self) -> str | None:
        return self.keys[self.rows[0].id] if self.rows else None

    @property
    def last_key(self) -> str | None:
        return self.keys[self.rows[-1].id] if self.rows else None


async def runs_page(
    session: AsyncSession,
    connection: WarehouseConnection,
    *,
    cursor: tuple[str, RunKey] | None,
    failing_only: bool,
    now: datetime,
    thresholds: Thresholds,
) -> RunsPage:
    """The page ``cursor`` names: ``("older", key)`` the runs after the key, ``("newer", key)``
    the page before it, ``("from", key)`` the page starting at it; None the newest page."""
    limit = RUNS_PAGE_SIZE

    async def read(key: RunKey | None, direction: str, n: int) -> list[Run]:
        return list(
            await runs_service.keyset_page(
                session,
                connection,
                key=key,
                direction=direction,
                limit=n,
                failing_only=failing_only,
                now=now,
                thresholds=thresholds,
            )
        )

    rows: list[Run] = []
    newest = cursor is None
    has_older = False
    if cursor is not None:
        direction, key = cursor
        if direction == "newer":
            rows = await read(key, "newer", limit + 1)
            if len(rows) <= limit:
                rows, newest = [], True  # nothing newer beyond a page: the head of the list
            else:
                rows, has_older = rows[1:], True  # the key's own run is older still
        else:
            rows = await read(key, direction, limit + 1)
            has_older = len(rows) > limit
            if rows:
                first = rows[0]
                newest = not await read((first.started_at, first.id), "newer", 1)
    if newest and not rows:
        rows = await read(None, "older", limit + 1)
        has_older = len(rows) > limit
    rows = rows[:limit]
    total = await runs_service.count(
        session, connection, failing_only=failing_only, now=now, thresholds=thresholds
    )
    return RunsPage(
        rows=[runs_service.to_out(r, now, thresholds) for r in rows],
        keys={r.id: format_key(r.started_at, r.id) for r in rows},
        newest=newest,
        has_older=has_older,
        total=total,
        failing_only=failing_only,
    )
