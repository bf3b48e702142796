"""Completing runs and rolling them up in one statement, for any number of reports (PostgreSQL).

One round trip does what the transaction of :func:`~pipepulse.rollups.writer.add_completed_run`
does per run: the conditional ``UPDATE`` of the runs (pending, started by ``completed_at``, of
the named organisation, every breakdown key, zero counts too, among the connection's event
types) and, through
data-modifying CTEs over exactly the rows it updated, the hourly, daily, event and
latest-time upserts, and the organisation's version bump when a run lies in an hour a reader
may have kept (rollups/settled.py). A run that another statement completed first fails the ``UPDATE``'s
re-check under its row lock and adds nothing, so each completion is counted once.

Every per-run value is computed in Python by the same rules as the other path
(:func:`~pipepulse.rollups.writer.contribution`); the database only adds the run's duration
when no latency was reported, since only it knows ``started_at``. Rows are grouped per
rollup key (an upsert may touch a row once per statement) and written in key order, so
concurrent statements lock in one order and cannot deadlock each other (the runs in the
order of the arrays, which :func:`parameters` sorts by key).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.rollups import settled
from pipepulse.rollups.plan import floor_day, floor_hour
from pipepulse.rules import typed_events


@dataclass(frozen=True)
class Completion:
    """One report to apply: the run it names and the values it stores (with ``outcome``)."""

    index: int
    organisation_id: int
    connection_id: str
    run_id: str
    values: dict[str, Any]


# (name, SQL type) of each input column, in the order of the unnest() arrays.
INPUT = (
    ("idx", "int"), ("organisation_id", "int"), ("connection_id", "text"), ("run_id", "text"),
    ("completed_at", "timestamptz"), ("events_delivered", "bigint"), ("batches_dlq", "int"),
    ("error", "text"), ("events_by_type", "text"), ("latency_ms", "bigint"), ("events_pending", "bigint"),
    ("bytes_delivered", "bigint"), ("outcome", "text"), ("hour", "timestamptz"), ("day", "timestamptz"),
)  # fmt: skip
EVENTS = (("idx", "int"), ("event_type", "text"), ("events", "bigint"))
# Latency as rules.run_latency_ms computes it: the exact duration as a double, x 1000, truncated.
LATENCY = (
    "coalesce(i.latency_ms, "
    "greatest(0, trunc(extract(epoch FROM i.completed_at - r.started_at)::float8 * 1000)::bigint))"
)
ADDITIVE_HOURLY = (
    "runs", "succeeded", "partial", "failed", "events_delivered", "batches_dlq", "bytes_delivered",
    "latency_sum_ms", "latency_count",
)  # fmt: skip
DAILY_COUNTS = ("runs", "succeeded", "partial", "failed", "events_delivered", "batches_dlq")
# The later value wins, whatever order runs complete in (as rollups/writer.py's gauges).
NEWER_DELIVERY = (
    "excluded.last_delivery_at IS NOT NULL AND "
    "(t.last_delivery_at IS NULL OR excluded.last_delivery_at > t.last_delivery_at)"
)
NEWER_PENDING = (
    "excluded.events_pending_at IS NOT NULL AND (t.events_pending_at IS NULL "
    "OR excluded.events_pending_at > t.events_pending_at "
    "OR (excluded.events_pending_at = t.events_pending_at AND excluded.events_pending > t.events_pending))"
)


def _unnest(columns: Sequence[tuple[str, str]], prefix: str) -> str:
    arrays = ", ".join(f"CAST(:{prefix}{name} AS {kind}[])" for name, kind in columns)
    return f"unnest({arrays}) AS x({', '.join(name for name, _ in columns)})"


def _later(column: str) -> str:
    return f"{column} = greatest(t.{column}, excluded.{column})"


@functools.cache
def statement() -> Any:
    hourly_set = ", ".join(
        [f"{c} = t.{c} + excluded.{c}" for c in ADDITIVE_HOURLY]
        + [
            "latency_max_ms = greatest(t.latency_max_ms, excluded.latency_max_ms)",
            f"last_delivery_at = CASE WHEN {NEWER_DELIVERY} THEN excluded.last_delivery_at "
            "ELSE t.last_delivery_at END",
            f"events_pending_at = CASE WHEN {NEWER_PENDING} THEN excluded.events_pending_at "
            "ELSE t.events_pending_at END",
            f"events_pending = CASE WHEN {NEWER_PENDING} THEN excluded.events_pending "
            "ELSE t.events_pending END",
        ]
    )
    daily_set = ", ".join(f"{c} = t.{c} + excluded.{c}" for c in DAILY_COUNTS)
    outcomes = (
        "count(*) FILTER (WHERE outcome = 'succeeded'), count(*) FILTER (WHERE outcome = 'partial'), "
        "count(*) FILTER (WHERE outcome = 'failed')"
    )
    return text(
        f"""
        WITH input AS (SELECT * FROM {_unnest(INPUT, "")}),
        done AS (
            UPDATE runs AS r
            SET completed_at = i.completed_at, events_delivered = i.events_delivered,
                batches_dlq = i.batches_dlq, error = i.error, events_by_type = CAST(i.events_by_type AS json),
                latency_ms = i.latency_ms, events_pending = i.events_pending,
                bytes_delivered = i.bytes_delivered, outcome = i.outcome
            FROM input AS i
            WHERE r.connection_id = i.connection_id AND r.id = i.run_id
              AND r.organisation_id = i.organisation_id
              AND r.completed_at IS NULL AND r.started_at <= i.completed_at
              AND (i.events_by_type IS NULL OR EXISTS (
                  SELECT 1 FROM warehouse_connections AS c
                  WHERE c.id = i.connection_id
                    AND CAST(c.event_types AS jsonb) @> to_jsonb(ARRAY(
                        SELECT json_object_keys(CAST(i.events_by_type AS json))))))
            RETURNING i.idx, i.organisation_id, i.connection_id, i.completed_at, i.events_delivered,
                      i.batches_dlq, i.events_pending, i.bytes_delivered, i.outcome, i.hour, i.day,
                      {LATENCY} AS latency, r.started_at
        ),
        hourly AS (
            INSERT INTO run_hourly_rollups AS t (
                connection_id, hour, organisation_id, runs, succeeded, partial, failed, events_delivered,
                batches_dlq, bytes_delivered, latency_sum_ms, latency_count, latency_max_ms, last_delivery_at,
                events_pending_at, events_pending)
            SELECT connection_id, hour, min(organisation_id), count(*), {outcomes}, sum(events_delivered),
                   sum(batches_dlq), sum(coalesce(bytes_delivered, 0)), sum(latency), count(*), max(latency),
                   max(completed_at) FILTER (WHERE events_delivered > 0),
                   max(completed_at) FILTER (WHERE events_pending IS NOT NULL),
                   (array_agg(events_pending ORDER BY completed_at DESC, events_pending DESC)
                       FILTER (WHERE events_pending IS NOT NULL))[1]
            FROM done GROUP BY connection_id, hour ORDER BY connection_id, hour
            ON CONFLICT (connection_id, hour) DO UPDATE SET {hourly_set}
        ),
        daily AS (
            INSERT INTO run_daily_rollups AS t (
                connection_id, day, organisation_id, runs, succeeded, partial, failed, events_delivered,
                batches_dlq)
            SELECT connection_id, day, min(organisation_id), count(*), {outcomes}, sum(events_delivered),
                   sum(batches_dlq)
            FROM done GROUP BY connection_id, day ORDER BY connection_id, day
            ON CONFLICT (connection_id, day) DO UPDATE SET {daily_set}
        ),
        events AS (
            INSERT INTO event_hourly_rollups AS t (connection_id, hour, event_type, organisation_id, events)
            SELECT d.connection_id, d.hour, e.event_type, min(d.organisation_id), sum(e.events)
            FROM done AS d JOIN (SELECT * FROM {_unnest(EVENTS, "event_")}) AS e ON e.idx = d.idx
            GROUP BY d.connection_id, d.hour, e.event_type ORDER BY d.connection_id, d.hour, e.event_type
            ON CONFLICT (connection_id, hour, event_type) DO UPDATE SET events = t.events + excluded.events
        ),
        times AS (
            INSERT INTO connection_run_times AS t (
                connection_id, organisation_id, last_completed_at, last_succeeded_at, last_failing_at,
                last_delivery_at)
            SELECT connection_id, min(organisation_id), max(completed_at),
                   max(completed_at) FILTER (WHERE outcome = 'succeeded'),
                   max(completed_at) FILTER (WHERE outcome IN ('partial', 'failed')),
                   max(completed_at) FILTER (WHERE events_delivered > 0)
            FROM done GROUP BY connection_id ORDER BY connection_id
            ON CONFLICT (connection_id) DO UPDATE SET {_later("last_completed_at")},
                {_later("last_succeeded_at")}, {_later("last_failing_at")}, {_later("last_delivery_at")}
        ),
        late AS (
            UPDATE organisations AS o SET rollups_version = o.rollups_version + 1
            WHERE o.id IN (SELECT organisation_id FROM done
                           WHERE extract(epoch FROM hour) < {settled.LATE_HOUR_SECONDS_SQL})
        )
        SELECT idx, started_at FROM done
        """
    )


def parameters(completions: Sequence[Completion]) -> dict[str, Any]:
    """The statement's arrays: one element per completion, one per (completion, event type)."""
    columns: dict[str, list[Any]] = {name: [] for name, _ in INPUT}
    events: dict[str, list[Any]] = {f"event_{name}": [] for name, _ in EVENTS}
    # In key order: the runs are updated, and so locked, in the order of the arrays.
    for c in sorted(completions, key=lambda c: (c.connection_id, c.run_id)):
        v = c.values
        by_type = v["events_by_type"]
        hour = floor_hour(v["completed_at"])
        row = {
            **v,
            "idx": c.index,
            "organisation_id": c.organisation_id,
            "connection_id": c.connection_id,
            "run_id": c.run_id,
            "events_by_type": to_json(by_type).decode() if by_type is not None else None,
            "hour": hour,
            "day": floor_day(hour),
        }
        for name, values in columns.items():
            values.append(row[name])
        for event_type, count in sorted(typed_events(v["events_delivered"], by_type).items()):
            events["event_idx"].append(c.index)
            events["event_event_type"].append(event_type)
            events["event_events"].append(count)
    return columns | events


async def complete(session: AsyncSession, completions: Sequence[Completion]) -> dict[int, datetime]:
    """Apply the completions; returns ``{index: started_at}`` of the runs this call completed.

    Two completions of one run in the same call would race each other inside the statement:
    callers pass each run at most once.
    """
    if not completions:
        return {}
    connection = await session.connection()
    rows = await connection.execute(statement(), parameters(completions))
    return {row.idx: row.started_at for row in rows}
