"""The metrics API (SPEC §4.3): latest, timeseries and timesummary for one or many connections.

Whole rollup hours are read from the hourly rollups; the partial hours at the edges of
the range (and every sub-hour bucket) from raw runs; orphans from the pending rows. The
numbers are therefore exact to the microsecond while the cost depends on the range, not
on the history. See docs/metrics-api.md for what each metric means in each time type.

Beyond raw retention (SPEC §8) the range planner moves each edge back to the start of its
hour and the rollups answer (``precision: "hour"``); what needs raw runs that are gone
(minute buckets, ``latest`` as of an old instant) or hourly rollups that are gone is refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.connections.repository import ConnectionRef
from pipepulse.db.run_rows import RunRow
from pipepulse.errors import Invalid
from pipepulse.metrics import buckets
from pipepulse.metrics import repository as repo
from pipepulse.metrics.buckets import Bucket, TimeUnit
from pipepulse.metrics.repository import LatestSpec
from pipepulse.metrics.values import (
    Accumulator,
    MetricValues,
    Series,
    series_values,
    summary_values,
)
from pipepulse.rollups import plan as planner
from pipepulse.rollups.plan import TICK, Kept, Precision, ceil_hour, floor_hour
from pipepulse.rules import DAY, Status, Thresholds, run_latency_ms
from pipepulse.schemas import format_timestamp
from pipepulse.status.bucket import bucket_status, known_latest_failing, latest_failing
from pipepulse.telemetry import service as status_engine

TimeType = Literal["latest", "timeseries", "timesummary"]


@dataclass(frozen=True)
class MetricsQuery:
    """A resolved query: defaults filled in, range checked."""

    time_type: TimeType
    time_interval: int
    time_unit: TimeUnit
    timestamp_from: datetime
    timestamp_to: datetime


def resolve(
    *,
    time_type: TimeType,
    time_interval: int,
    time_unit: TimeUnit,
    timestamp_from: datetime | None,
    timestamp_to: datetime | None,
    now: datetime,
) -> tuple[MetricsQuery, list[Bucket]]:
    """Fill the defaults (the last 24h) and refuse ranges that are empty or too finely cut."""
    end = timestamp_to if timestamp_to is not None else now
    # Without timestamp_from: the 24 hours before timestamp_to (now - 24h when both are defaulted).
    start = timestamp_from if timestamp_from is not None else end - DAY
    if start >= end:
        raise Invalid(
            f"timestamp_from ({format_timestamp(start)}) must be before "
            f"timestamp_to ({format_timestamp(end)})",
            loc=("query", "timestamp_from"),
        )
    query = MetricsQuery(time_type, time_interval, time_unit, start, end)
    try:
        bucket_list = buckets.buckets(start, end, time_unit, time_interval)
    except buckets.TooManyBuckets as exc:
        raise Invalid(str(exc), loc=("query", "time_interval")) from None
    except (OverflowError, ValueError):
        raise Invalid(
            "the range and interval reach outside the supported calendar (years 1 to 9999)",
            loc=("query", "time_interval"),
        ) from None
    return query, bucket_list


def kept(now: datetime, thresholds: Thresholds) -> Kept:
    return planner.kept(now, thresholds.run_retention, thresholds.rollup_retention)


def _days(span: timedelta) -> int:
    return span // DAY


def check_kept(
    query: MetricsQuery, now: datetime, thresholds: Thresholds, *, minute_buckets: bool = False
) -> Kept:
    """Refuse a query that needs raw runs or hourly rollups retention has deleted (422)."""
    store = kept(now, thresholds)
    if query.timestamp_from < store.hours_from:
        raise Invalid(
            f"hourly rollups are kept PIPEPULSE_ROLLUP_RETENTION_DAYS={_days(thresholds.rollup_retention)} "
            f"days: timestamp_from must be at or after {format_timestamp(store.hours_from)}",
            loc=("query", "timestamp_from"),
        )
    retention = f"raw runs are kept PIPEPULSE_RUN_RETENTION_DAYS={_days(thresholds.run_retention)} days"
    if minute_buckets and query.timestamp_from < store.raw_from:
        raise Invalid(
            f"minute buckets are counted from raw runs, and {retention}: timestamp_from must be at or "
            f"after {format_timestamp(store.raw_from)}, or use hour (or longer) buckets for older ranges",
            loc=("query", "time_unit"),
        )
    if query.time_type == "latest" and min(query.timestamp_to, now) - DAY < store.raw_from:
        raise Invalid(
            "time_type=latest gives the status, latency and lag as of timestamp_to from the raw runs of "
            f"the day before it, and {retention}: timestamp_to must be at or after "
            f"{format_timestamp(store.raw_from + DAY)}, or use time_type=timesummary for older ranges",
            loc=("query", "timestamp_to"),
        )
    return store


def answered(
    query: MetricsQuery, now: datetime, thresholds: Thresholds
) -> tuple[datetime, datetime, Precision]:
    """The range the answer counts (edges beyond raw retention moved to their hour) and its precision."""
    p = planner.plan(query.timestamp_from, query.timestamp_to, store=kept(now, thresholds))
    return p.start, p.end, p.precision


def jsonable(value: Any, _formatted: dict[datetime, str] | None = None) -> Any:
    """Timestamps as ISO 8601 UTC with Z, all the way down.

    A series repeats each bucket's timestamp once per metric; each distinct instant is
    formatted once (formatting dominated the cost of long series).
    """
    cache = {} if _formatted is None else _formatted
    if isinstance(value, datetime):
        text = cache.get(value)
        if text is None:
            text = cache[value] = format_timestamp(value)
        return text
    if isinstance(value, dict):
        return {k: jsonable(v, cache) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v, cache) for v in value]
    return value


async def _orphans(
    session: AsyncSession,
    ids: Sequence[str],
    start: datetime,
    end: datetime,
    now: datetime,
    window: timedelta,
) -> list[tuple[datetime, RunRow]]:
    """Pending rows orphaned by ``now`` whose orphan time lies in ``[start, end)``."""
    started_to = min(end - window, now - window + TICK)
    runs = await repo.pending_runs(session, ids, start - window, started_to)
    return [(r.finished_time(window), r) for r in runs]


async def _order_dependent_status(
    session: AsyncSession,
    specs: list[LatestSpec],
    orphans_by_key: dict[int, list[tuple[datetime, RunRow]]],
    n: int,
) -> dict[int, list[bool]]:
    """For buckets whose counts do not settle the 'error' rule: look at their newest runs."""
    newest = await repo.latest_completed(session, specs, n)
    out = {}
    for spec in specs:
        candidates = [((r.finished_time(TICK), r.started_at, r.id), r.outcome) for r in newest[spec.key]]
        candidates += [((t, r.started_at, r.id), "orphaned") for t, r in orphans_by_key.get(spec.key, [])]
        out[spec.key] = latest_failing(candidates, n)
    return out


async def summaries(
    session: AsyncSession,
    connections: Sequence[ConnectionRef],
    start: datetime,
    end: datetime,
    now: datetime,
    thresholds: Thresholds,
) -> dict[str, tuple[Accumulator, Status]]:
    """Each connection's runs finished in ``[start, end)``, and the §3 rules over that range."""
    ids = [c.id for c in connections]
    plan = planner.plan(start, end, store=kept(now, thresholds))
    start, end = plan.start, plan.end
    accs = {cid: Accumulator() for cid in ids}
    whole = plan.whole_hours
    if whole is not None:
        sums = await repo.hour_sums(session, ids, *whole)
        events = await repo.event_sums(session, ids, *whole)
        for cid, s in sums.items():
            accs[cid] += s
            accs[cid].add_events(events.get(cid, {}))
    for a, b in plan.raw:
        for cid, edge in (await repo.edge_sums(session, ids, a, b)).items():
            accs[cid] += edge
    orphans: dict[str, list[tuple[datetime, RunRow]]] = defaultdict(list)
    for t, run in await _orphans(session, ids, start, end, now, thresholds.orphan_window):
        accs[run.connection_id].add_orphan()
        orphans[run.connection_id].append((t, run))

    n = thresholds.error_status_runs
    latest: dict[str, list[bool]] = {}
    specs: list[LatestSpec] = []
    for i, cid in enumerate(ids):
        known = known_latest_failing(accs[cid].tally, n)
        if known is None:
            specs.append(LatestSpec(key=i, connection_id=cid, a=start, b=end))
        else:
            latest[cid] = known
    looked = await _order_dependent_status(
        session, specs, {s.key: orphans[s.connection_id] for s in specs}, n
    )
    for spec in specs:
        latest[spec.connection_id] = looked[spec.key]
    return {cid: (accs[cid], bucket_status(accs[cid].tally, latest[cid])) for cid in ids}


async def latest_values(
    session: AsyncSession,
    connections: Sequence[ConnectionRef],
    query: MetricsQuery,
    now: datetime,
    thresholds: Thresholds,
) -> dict[str, MetricValues]:
    """Counters over the range; status, latency, lag and last delivery as of its end."""
    check_kept(query, now, thresholds)
    at = min(query.timestamp_to, now)
    # The counters over the range come from the status engine's statements, counted beside
    # the status: latency, lag and last delivery are the latest run's, not the range's.
    found = await status_engine.counted_statuses(
        session,
        connections,
        at,
        thresholds,
        (query.timestamp_from, query.timestamp_to),
        kept(now, thresholds),
    )
    out = {}
    for c in connections:
        state, tally = found[c.id]
        values = summary_values(Accumulator(tally=tally), c.event_types, state.status)
        latest = state.latest_run
        values["latency"] = (
            run_latency_ms(latest.latency_ms, latest.started_at, latest.completed_at)
            if latest is not None and latest.completed_at is not None
            else None
        )
        values["recordsLag"] = latest.events_pending if latest is not None else None
        values["last_delivery_at"] = state.last_delivery_at
        out[c.id] = values
    return out


async def summary_values_for(
    session: AsyncSession,
    connections: Sequence[ConnectionRef],
    query: MetricsQuery,
    now: datetime,
    thresholds: Thresholds,
) -> dict[str, MetricValues]:
    check_kept(query, now, thresholds)
    counted = await summaries(session, connections, query.timestamp_from, query.timestamp_to, now, thresholds)
    out = {}
    for c in connections:
        acc, state = counted[c.id]
        out[c.id] = summary_values(acc, c.event_types, state)
    return out


async def timeseries(
    session: AsyncSession,
    connection: ConnectionRef,
    bucket_list: list[Bucket],
    now: datetime,
    thresholds: Thresholds,
) -> Series:
    """Every bucket of one connection, oldest first, empty ones with zeroes.

    Beyond raw retention each bucket's edges move back to the start of their hour, as the
    range planner moves them, so the buckets still tile the range.
    """
    store = kept(now, thresholds)
    bucket_list = [
        buckets.Bucket(label=b.label, start=store.snap(b.start), end=store.snap(b.end)) for b in bucket_list
    ]
    accs = [Accumulator() for _ in bucket_list]
    plan = planner.split([(b.start, b.end) for b in bucket_list])
    start, end = bucket_list[0].start, bucket_list[-1].end
    first_hour, last_hour = ceil_hour(start), floor_hour(end)
    if first_hour < last_hour:
        # Only hours lying wholly inside one bucket come from rollups; the rest is read raw.
        def owner(hour: datetime) -> int | None:
            i = buckets.locate(bucket_list, hour)
            span = plan.whole_hours[i] if i is not None else None
            return i if span is not None and span[0] <= hour < span[1] else None

        events: dict[datetime, dict[str, int]] = defaultdict(dict)
        for hour, event_type, count in await repo.event_hour_rows(
            session, connection.id, first_hour, last_hour
        ):
            events[hour][event_type] = count
        for hour, sums in await repo.hour_rows(session, connection.id, first_hour, last_hour):
            i = owner(hour)
            if i is not None:
                accs[i] += sums
                accs[i].add_events(events.get(hour, {}))
    # The raw runs arrive summed per bucket: one row a bucket, however many runs it holds.
    starts = [b.start for b in bucket_list]
    for i, sums in (await repo.bucket_sums(session, connection.id, starts, plan.raw)).items():
        accs[i] += sums
    orphans: dict[int, list[tuple[datetime, RunRow]]] = defaultdict(list)
    for t, run in await _orphans(session, [connection.id], start, end, now, thresholds.orphan_window):
        i = buckets.locate(bucket_list, t)
        if i is not None:
            accs[i].add_orphan()
            orphans[i].append((t, run))

    n = thresholds.error_status_runs
    latest: dict[int, list[bool]] = {}
    specs = []
    for i, (acc, b) in enumerate(zip(accs, bucket_list, strict=True)):
        known = known_latest_failing(acc.tally, n)
        if known is None:
            specs.append(LatestSpec(key=i, connection_id=connection.id, a=b.start, b=b.end))
        else:
            latest[i] = known
    latest.update(await _order_dependent_status(session, specs, orphans, n))
    statuses = [bucket_status(acc.tally, latest[i]) for i, acc in enumerate(accs)]
    return series_values([b.label for b in bucket_list], accs, statuses, connection.event_types)


async def connection_metrics(
    session: AsyncSession,
    connection: ConnectionRef,
    query: MetricsQuery,
    bucket_list: list[Bucket],
    now: datetime,
    thresholds: Thresholds,
) -> MetricValues | Series:
    """The ``data`` of GET {conn}/telemetry/metrics/ for the query's time type."""
    if query.time_type == "timeseries":
        # Minute buckets of whole hours (60, 120, … minutes, epoch-aligned) are whole rollup hours.
        sub_hour = query.time_unit == "minute" and query.time_interval % 60 != 0
        check_kept(query, now, thresholds, minute_buckets=sub_hour)
        return await timeseries(session, connection, bucket_list, now, thresholds)
    if query.time_type == "timesummary":
        return (await summary_values_for(session, [connection], query, now, thresholds))[connection.id]
    return (await latest_values(session, [connection], query, now, thresholds))[connection.id]
