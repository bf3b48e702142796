"""The metrics API (SPEC §4.3): latest, timeseries and timesummary for one or many connections.

Whole rollup hours are read from the hourly rollups; the partial hours at the edges of
the range (and every sub-hour bucket) from raw runs; orphans from the pending rows. The
numbers are therefore exact to the microsecond while the cost depends on the range, not
on the history. See docs/metrics-api.md for what each metric means in each time type.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.errors import Invalid
from pipepulse.schemas import format_timestamp
from pipepulse.telemetry import buckets
from pipepulse.telemetry import metrics_repository as repo
from pipepulse.telemetry.buckets import Bucket, TimeUnit
from pipepulse.telemetry.metric_values import (
    Accumulator,
    bucket_status,
    known_latest_failing,
    latest_failing,
    series_values,
    summary_values,
)
from pipepulse.telemetry.metrics_repository import HourSums, LatestSpec, RawRun
from pipepulse.telemetry.rollups import floor_hour, run_latency_ms
from pipepulse.telemetry.rules import DAY, Status, Thresholds, finished_time, status

TimeType = Literal["latest", "timeseries", "timesummary"]
TICK = timedelta(microseconds=1)
BEGINNING = datetime(1, 1, 2, tzinfo=UTC)


@dataclass(frozen=True)
class MetricsQuery:
    """A resolved query: defaults filled in, range checked."""

    time_type: TimeType
    time_interval: int
    time_unit: TimeUnit
    timestamp_from: datetime
    timestamp_to: datetime


@dataclass(frozen=True)
class ConnectionRef:
    """What the metrics need to know about a connection."""

    id: str
    organisation_id: int
    name: str
    event_types: Sequence[str]


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


def _add_hours(acc: Accumulator, sums: HourSums, events_by_type: dict[str, int]) -> None:
    acc.add_hours(
        runs=sums.runs,
        succeeded=sums.succeeded,
        partial=sums.partial,
        failed=sums.failed,
        events_delivered=sums.events_delivered,
        batches_dlq=sums.batches_dlq,
        latency_sum_ms=sums.latency_sum_ms,
        latency_count=sums.latency_count,
        last_delivery_at=sums.last_delivery_at,
        events_pending_at=sums.events_pending_at,
        events_pending=sums.events_pending,
        events_by_type=events_by_type,
    )


def _add_run(acc: Accumulator, run: RawRun) -> None:
    assert run.completed_at is not None
    acc.add_completed(
        outcome=run.outcome,
        started_at=run.started_at,
        completed_at=run.completed_at,
        events_delivered=run.events_delivered,
        events_by_type=run.events_by_type,
        batches_dlq=run.batches_dlq,
        latency_ms=run.latency_ms,
        events_pending=run.events_pending,
    )


async def _orphans(
    session: AsyncSession,
    ids: Sequence[str],
    start: datetime,
    end: datetime,
    now: datetime,
    window: timedelta,
) -> list[tuple[datetime, RawRun]]:
    """Pending rows orphaned by ``now`` whose orphan time lies in ``[start, end)``."""
    started_to = min(end - window, now - window + TICK)
    runs = await repo.pending_runs(session, ids, start - window, started_to)
    return [(finished_time(r.started_at, None, window), r) for r in runs]


async def _order_dependent_status(
    session: AsyncSession,
    specs: list[LatestSpec],
    orphans_by_key: dict[int, list[tuple[datetime, RawRun]]],
    n: int,
) -> dict[int, list[bool]]:
    """For buckets whose counts do not settle the 'error' rule: look at their newest runs."""
    newest = await repo.latest_completed(session, specs, n)
    out = {}
    for spec in specs:
        candidates = [
            ((completed, started, run_id), outcome)
            for run_id, started, completed, outcome, _, _ in newest[spec.key]
        ]
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
    *,
    counters_only: bool = False,
) -> dict[str, tuple[Accumulator, Status]]:
    """Each connection's runs finished in ``[start, end)``, and the §3 rules over that range.

    ``counters_only`` skips what only the range's gauges and status need (``latest`` reads
    those at the end of the range instead); the status returned is then meaningless.
    """
    ids = [c.id for c in connections]
    plan = buckets.split([Bucket(label=start, start=start, end=end)])
    accs = {cid: Accumulator() for cid in ids}
    whole = plan.whole_hours[0]
    if whole is not None:
        sums = await repo.hour_sums(session, ids, *whole, with_pending=not counters_only)
        events = await repo.event_sums(session, ids, *whole)
        for cid, s in sums.items():
            _add_hours(accs[cid], s, events.get(cid, {}))
    if session.get_bind().dialect.name == "postgresql":
        for a, b in plan.raw:
            for cid, edge in (await repo.edge_sums(session, ids, a, b)).items():
                _add_hours(accs[cid], edge.sums, edge.events_by_type)
    else:
        for run in await repo.completed_runs(session, ids, plan.raw):
            _add_run(accs[run.connection_id], run)
    orphans: dict[str, list[tuple[datetime, RawRun]]] = defaultdict(list)
    for t, run in await _orphans(session, ids, start, end, now, thresholds.orphan_window):
        accs[run.connection_id].add_orphan()
        orphans[run.connection_id].append((t, run))

    n = thresholds.error_status_runs
    if counters_only:
        return {cid: (accs[cid], "idle") for cid in ids}
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


@dataclass(frozen=True)
class Gauges:
    """A connection at one instant: §3 status, and what its latest completed run said."""

    status: Status
    latency: int | None
    records_lag: int | None
    last_delivery_at: datetime | None


async def gauges_at(
    session: AsyncSession,
    connections: Sequence[ConnectionRef],
    at: datetime,
    thresholds: Thresholds,
) -> dict[str, Gauges]:
    """SPEC §3's status as GET …/telemetry/ would answer at ``at`` (<= now), for many connections."""
    ids = [c.id for c in connections]
    window = thresholds.orphan_window
    n = max(thresholds.error_status_runs, 1)
    day_start = at - DAY + TICK  # the window (at - 24h, at] as [day_start, at + TICK)
    newest = await repo.latest_completed(
        session,
        [LatestSpec(key=i, connection_id=cid, a=BEGINNING, b=at + TICK) for i, cid in enumerate(ids)],
        n,
    )
    orphans: dict[str, list[tuple[datetime, RawRun]]] = defaultdict(list)
    for t, run in await _orphans(session, ids, day_start, at + TICK, at, window):
        orphans[run.connection_id].append((t, run))
    failing = await repo.failing_connections(session, ids, day_start, at + TICK)
    delivered = await repo.last_delivery(session, ids, at + TICK)

    out = {}
    for i, cid in enumerate(ids):
        runs = newest[i]
        in_day = [
            ((completed, started, run_id), outcome)
            for run_id, started, completed, outcome, _, _ in runs
            if completed >= day_start
        ]
        in_day += [((t, r.started_at, r.id), "orphaned") for t, r in orphans[cid]]
        last = delivered.get(cid)
        state = status(
            latest_failing(in_day, thresholds.error_status_runs),
            cid in failing or bool(orphans[cid]),
            1 if last is not None and last >= day_start else 0,
        )
        latency = pending = None
        if runs:
            _, started, completed, _, latency_ms, pending = runs[0]
            latency = run_latency_ms(latency_ms, started, completed)
        out[cid] = Gauges(status=state, latency=latency, records_lag=pending, last_delivery_at=last)
    return out


async def latest_values(
    session: AsyncSession,
    connections: Sequence[ConnectionRef],
    query: MetricsQuery,
    now: datetime,
    thresholds: Thresholds,
) -> dict[str, dict[str, Any]]:
    """Counters over the range; status, latency, lag and last delivery as of its end."""
    at = min(query.timestamp_to, now)
    counted = await summaries(
        session, connections, query.timestamp_from, query.timestamp_to, now, thresholds, counters_only=True
    )
    gauges = await gauges_at(session, connections, at, thresholds)
    out = {}
    for c in connections:
        acc, _ = counted[c.id]
        g = gauges[c.id]
        values = summary_values(acc, c.event_types, g.status)
        values.update(latency=g.latency, recordsLag=g.records_lag, last_delivery_at=g.last_delivery_at)
        out[c.id] = values
    return out


async def summary_values_for(
    session: AsyncSession,
    connections: Sequence[ConnectionRef],
    query: MetricsQuery,
    now: datetime,
    thresholds: Thresholds,
) -> dict[str, dict[str, Any]]:
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
) -> dict[str, Any]:
    """Every bucket of one connection, oldest first, empty ones with zeroes."""
    accs = [Accumulator() for _ in bucket_list]
    plan = buckets.split(bucket_list)
    start, end = bucket_list[0].start, bucket_list[-1].end
    first_hour, last_hour = buckets.ceil_hour(start), floor_hour(end)
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
                _add_hours(accs[i], sums, events.get(hour, {}))
    for run in await repo.completed_runs(session, [connection.id], plan.raw):
        assert run.completed_at is not None
        i = buckets.locate(bucket_list, run.completed_at)
        if i is not None:
            _add_run(accs[i], run)
    orphans: dict[int, list[tuple[datetime, RawRun]]] = defaultdict(list)
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
) -> dict[str, Any]:
    """The ``data`` of GET {conn}/telemetry/metrics/ for the query's time type."""
    if query.time_type == "timeseries":
        return await timeseries(session, connection, bucket_list, now, thresholds)
    if query.time_type == "timesummary":
        return (await summary_values_for(session, [connection], query, now, thresholds))[connection.id]
    return (await latest_values(session, [connection], query, now, thresholds))[connection.id]
