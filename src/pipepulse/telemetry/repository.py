"""The reads behind the status engine: two statements for any number of connections.

Each is built once per dialect (and, on SQLite, per number of connections) and run with
parameters; none walks a whole history. The first sums both windows: the rollup rows of
their whole hours and, where the database can sum a JSON breakdown (PostgreSQL), the raw
runs of their partial edge hours too. The second reads runs: the pending rows that may be
orphans, top-N probes from the end of an index, and the raw edges where they were not summed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db import dialect
from pipepulse.db.models import ConnectionRunTimes, EventHourlyRollup, Run, RunHourlyRollup
from pipepulse.db.run_rows import RUN_COLUMNS, RunRow
from pipepulse.kit import run_filters
from pipepulse.rollups.plan import Plan
from pipepulse.rollups.writer import RUN_COUNTS
from pipepulse.rules import OTHER, Tally

# Literal predicates (not bound parameters) so PostgreSQL can match the partial indexes
# ix_runs_failing and ix_runs_delivering even under a generic prepared-statement plan.
FAILING_COMPLETED = text("runs.outcome IN ('partial', 'failed')")
DELIVERING = text("runs.events_delivered > 0")
# Raw edge ranges of one window.
WINDOW_EDGES = 2


def _t(name: str) -> Any:
    return bindparam(name, type_=Run.__table__.c.completed_at.type)


@dataclass(frozen=True)
class Windows:
    """The two windows of one read: the first (the 7 days, the day again, or a range asked
    for) and the day the status is judged over."""

    week: Plan
    day: Plan


@dataclass
class Rollups:
    """Sums of one connection for both windows."""

    week: Tally = field(default_factory=Tally)
    day: Tally = field(default_factory=Tally)


def _in(column: Any, prefix: str, count: int) -> Any:
    """``column`` in any of ``count`` half-open ranges bound as ``{prefix}{i}_from`` / ``_to``."""
    return or_(
        *(and_(column >= _t(f"{prefix}{i}_from"), column < _t(f"{prefix}{i}_to")) for i in range(count))
    )


def _per_window(value: Any, in_week: Any, in_day: Any) -> list[Any]:
    return [
        func.coalesce(func.sum(case((in_week, value), else_=0)), 0),
        func.coalesce(func.sum(case((in_day, value), else_=0)), 0),
    ]


@functools.cache
def _sums(name: str, edges: int, events: bool) -> Any:
    """Per connection and part (whole hours, raw edges): run counts (event_type NULL), then
    (with ``events``) events per type; each value twice, for the week and for the day."""
    r = RunHourlyRollup
    in_week_hours, in_day_hours = _in(r.hour, "week_hours", 1), _in(r.hour, "day_hours", 1)
    read_hours = (r.hour >= _t("hours_from"), r.hour < _t("hours_to"))
    counts = [
        v for column in RUN_COUNTS for v in _per_window(getattr(r, column), in_week_hours, in_day_hours)
    ]
    hours = (
        select(literal("hours").label("part"), r.connection_id, null().label("event_type"), *counts)
        .where(dialect.in_param(name, r.connection_id, "ids"), *read_hours)
        .group_by(r.connection_id)
    )
    e = EventHourlyRollup
    padding = [literal(0)] * (len(counts) - 2)
    hour_events = (
        select(
            literal("hours").label("part"),
            e.connection_id,
            e.event_type,
            *_per_window(e.events, _in(e.hour, "week_hours", 1), _in(e.hour, "day_hours", 1)),
            *padding,
        )
        .where(
            dialect.in_param(name, e.connection_id, "ids"),
            e.hour >= _t("hours_from"),
            e.hour < _t("hours_to"),
        )
        .group_by(e.connection_id, e.event_type)
    )
    if not edges:
        return hours.union_all(hour_events) if events else hours
    # The raw edges, summed where they lie (see EDGES: only where the database sums JSON).
    done = Run.completed_at
    in_week, in_day_edges = _in(done, "week_edge", WINDOW_EDGES), _in(done, "day_edge", WINDOW_EDGES)
    per_run = {
        "runs": literal(1),
        "succeeded": case((Run.outcome == "succeeded", 1), else_=0),
        "partial": case((Run.outcome == "partial", 1), else_=0),
        "failed": case((Run.outcome == "failed", 1), else_=0),
        "events_delivered": Run.events_delivered,
        "batches_dlq": Run.batches_dlq,
        # Raw edges hold completed runs only; orphans come from the pending rows.
        "orphaned": literal(0),
    }
    in_edges = (dialect.in_param(name, Run.connection_id, "ids"), _in(done, "edge", edges))
    edge_counts = (
        select(
            literal("edges").label("part"),
            Run.connection_id,
            null().label("event_type"),
            *(v for column in RUN_COUNTS for v in _per_window(per_run[column], in_week, in_day_edges)),
        )
        .where(*in_edges)
        .group_by(Run.connection_id)
    )
    kv = func.json_each_text(Run.events_by_type).table_valued("key", "value").render_derived(name="kv")
    edge_events = (
        select(
            literal("edges").label("part"),
            Run.connection_id,
            kv.c.key,
            *_per_window(cast(kv.c.value, BigInteger), in_week, in_day_edges),
            *padding,
        )
        .select_from(Run)
        .join(kv, true())
        .where(*in_edges, func.json_typeof(Run.events_by_type) == "object")
        .group_by(Run.connection_id, kv.c.key)
    )
    if not events:
        return hours.union_all(edge_counts)
    return hours.union_all(hour_events, edge_counts, edge_events)


def _padded(
    ranges: Sequence[tuple[datetime, datetime]], slots: int, empty_at: datetime
) -> list[tuple[datetime, datetime]]:
    assert len(ranges) <= slots, ranges
    return list(ranges) + [(empty_at, empty_at)] * (slots - len(ranges))


def edge_ranges(windows: Windows) -> list[tuple[datetime, datetime]]:
    """The raw ranges of both windows, overlapping ones merged: each is one index range read
    per connection (two windows anchored near one instant share most of their edges)."""
    merged: list[tuple[datetime, datetime]] = []
    for a, b in sorted([*windows.week.raw, *windows.day.raw]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _no_edges(_windows: Windows) -> list[tuple[datetime, datetime]]:
    return []


@dataclass(frozen=True)
class EdgeRuns:
    """Where the windows' raw edge runs are counted: the ranges :func:`sums` sums in its
    statement, and those whose runs :func:`runs` ships to be added in Python."""

    summed: Callable[[Windows], list[tuple[datetime, datetime]]]
    shipped: Callable[[Windows], list[tuple[datetime, datetime]]]


# PostgreSQL sums the edges (JSON breakdowns included) where they lie: a status read of 500
# connections would otherwise decode some 12,000 runs in Python. SQLite has no such sum of a
# JSON breakdown, so its edge runs are shipped and summed in Python, to the same result.
EDGES = dialect.PerDatabase(
    postgresql=EdgeRuns(summed=edge_ranges, shipped=_no_edges),
    sqlite=EdgeRuns(summed=_no_edges, shipped=edge_ranges),
)


def _range_params(prefix: str, ranges: Sequence[tuple[datetime, datetime]]) -> dict[str, datetime]:
    params = {}
    for i, (a, b) in enumerate(ranges):
        params[f"{prefix}{i}_from"], params[f"{prefix}{i}_to"] = a, b
    return params


async def sums(
    session: AsyncSession, ids: Sequence[str], windows: Windows, *, events: bool = True
) -> tuple[dict[str, Rollups], bool]:
    """Per connection, the sums of the week and the day; and whether they include the raw
    edges (else :func:`runs` returns those runs, to be added one by one: see :data:`EDGES`).
    Without ``events`` the per-type breakdowns are not read (a status needs only the counts),
    and stay empty."""
    name = dialect.name_of(session)
    out = {cid: Rollups() for cid in ids}
    edges = EDGES.of(session).summed(windows)
    end = windows.day.end
    week, day = windows.week.whole_hours or (end, end), windows.day.whole_hours or (end, end)
    if week[0] == week[1] and day[0] == day[1] and not edges:
        return out, False
    params: dict[str, Any] = {
        "ids": list(ids),
        "hours_from": min(week[0], day[0]),
        "hours_to": max(week[1], day[1]),
        **_range_params("week_hours", [week]),
        **_range_params("day_hours", [day]),
    }
    if edges:
        params |= _range_params("edge", edges)
        params |= _range_params("week_edge", _padded(windows.week.raw, WINDOW_EDGES, end))
        params |= _range_params("day_edge", _padded(windows.day.raw, WINDOW_EDGES, end))
    # Events reported without a breakdown count as "other": on the edges, what the typed
    # events do not explain (a breakdown always sums to its run's events_delivered).
    untyped = {cid: [0, 0] for cid in ids}
    events_at = RUN_COUNTS.index("events_delivered") * 2
    for part, cid, event_type, *values in await session.execute(_sums(name, len(edges), events), params):
        both = out[cid]
        if event_type is None:
            counts = [int(v or 0) for v in values]
            for tally, offset in ((both.week, 0), (both.day, 1)):
                for column, value in zip(RUN_COUNTS, counts[offset::2], strict=True):
                    setattr(tally, column, getattr(tally, column) + value)
            if part == "edges":
                untyped[cid][0] += counts[events_at]
                untyped[cid][1] += counts[events_at + 1]
            continue
        for i, tally in enumerate((both.week, both.day)):
            typed = int(values[i] or 0)
            if typed:
                tally.events_by_type[event_type] += typed
            if part == "edges":
                untyped[cid][i] -= typed
    if events:
        for cid, rests in untyped.items():
            for tally, rest in zip((out[cid].week, out[cid].day), rests, strict=True):
                if rest > 0:
                    tally.events_by_type[OTHER] += rest
    return out, bool(edges)


def _newest(*where: Any, limit: str, columns: Sequence[Any] = RUN_COLUMNS) -> Any:
    def part(key: Any) -> Any:
        return (
            select(*columns)
            .where(Run.connection_id == key.key, *where)
            .order_by(Run.completed_at.desc(), Run.started_at.desc(), Run.id.desc())
            .limit(bindparam(limit, type_=Integer()))
        )

    return part


def _columns(events: bool) -> tuple[Any, ...]:
    """:data:`RUN_COLUMNS`, or without ``events`` the same with no breakdown (NULL): decoding
    tens of thousands of JSON breakdowns is most of a status-only read's time."""
    if events:
        return RUN_COLUMNS
    return tuple(null().label("events_by_type") if c.key == "events_by_type" else c for c in RUN_COLUMNS)


@functools.cache
def _runs(name: str, slots: int, edges: int, events: bool) -> Any:
    columns = _columns(events)
    key = Run.connection_id.label("key")
    t = ConnectionRunTimes
    # The last delivery as every report keeps it, shaped as a run for the union.
    delivered = select(
        literal("delivered").label("part"),
        t.connection_id.label("key"),
        t.connection_id,
        literal("").label("id"),
        t.organisation_id,
        t.last_delivery_at,
        t.last_delivery_at,
        literal("succeeded"),
        literal(1),
        null(),
        literal(0),
        null(),
        null(),
        null(),
        null(),
    ).where(dialect.in_param(name, t.connection_id, "ids"))
    orphans = select(literal("orphan").label("part"), key, *columns).where(
        dialect.in_param(name, Run.connection_id, "ids"),
        run_filters.unreported_started_in(_t("orphans_from"), _t("orphans_to")),
    )
    extra = [orphans, delivered]
    if edges:
        extra.append(
            select(literal("edge").label("part"), key, *columns).where(
                dialect.in_param(name, Run.connection_id, "ids"), _in(Run.completed_at, "edge", edges)
            )
        )
    return dialect.newest_per_key(
        name,
        slots,
        {
            "latest": _newest(Run.completed_at < _t("until"), limit="latest_limit", columns=columns),
            "failing": _newest(
                FAILING_COMPLETED,
                run_filters.completed_in(_t("failing_from"), _t("until")),
                limit="failing_limit",
                columns=columns,
            ),
        },
        extra=extra,
    )


@functools.cache
def _delivery_probe(name: str, slots: int) -> Any:
    return dialect.newest_per_key(
        name, slots, {"delivery": _newest(DELIVERING, Run.completed_at < _t("until"), limit="delivery_limit")}
    )


@dataclass
class Newest:
    """Runs of one connection: the newest completed up to the instant by kind, pending ones
    that may be orphans, and (where not summed) the completed ones in the raw edges."""

    latest: list[RunRow] = field(default_factory=list)
    failing: list[RunRow] = field(default_factory=list)
    delivered_at: datetime | None = None
    orphans: list[RunRow] = field(default_factory=list)
    edges: list[RunRow] = field(default_factory=list)


async def runs(
    session: AsyncSession,
    ids: Sequence[str],
    windows: Windows,
    *,
    orphans_started: tuple[datetime, datetime],
    until: datetime,
    latest_limit: int,
    failing_from: datetime,
    failing_limit: int,
    events: bool = True,
) -> dict[str, Newest]:
    """Per connection, completed before ``until``: the newest ``latest_limit`` runs, the newest
    ``failing_limit`` failing ones from ``failing_from`` on, and when the newest delivering one
    completed (from the latest-times row, or the index where that row cannot say); the
    pending runs started in ``orphans_started``; the raw edges' runs unless :func:`sums`
    summed them. Without ``events`` the runs carry no breakdown (``events_by_type`` None)."""
    name = dialect.name_of(session)
    params = dialect.key_params(name, [{"key": cid} for cid in ids]) | {
        "ids": list(ids),
        "until": until,
        "latest_limit": latest_limit,
        "failing_from": failing_from,
        "failing_limit": failing_limit,
        "delivery_limit": 1,
        "orphans_from": orphans_started[0],
        "orphans_to": orphans_started[1],
    }
    edges = EDGES.of(session).shipped(windows)
    params |= _range_params("edge", edges)
    out = {cid: Newest() for cid in ids}
    # The last delivery as every report keeps it answers for the instant asked about unless it
    # is not before it (a report from a clock ahead, or a past instant): then the index does.
    probe = []
    for row in await session.execute(
        _runs(name, dialect.key_slots(name, len(ids)), len(edges), events), params
    ):
        found = out[row.key]
        if row.part == "delivered":
            delivered_at = dialect.as_utc(row.completed_at)
            if delivered_at is not None and delivered_at >= until:
                probe.append(row.key)
            else:
                found.delivered_at = delivered_at
            continue
        run = RunRow.from_row(row)
        getattr(found, {"orphan": "orphans", "edge": "edges"}.get(row.part, row.part)).append(run)
    if probe:
        params = dialect.key_params(name, [{"key": cid} for cid in probe]) | {
            "until": until,
            "delivery_limit": 1,
        }
        for row in await session.execute(_delivery_probe(name, dialect.key_slots(name, len(probe))), params):
            out[row.key].delivered_at = RunRow.from_row(row).completed_at
    return out
