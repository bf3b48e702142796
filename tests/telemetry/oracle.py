"""A brute-force reading of SPEC §3, written from the spec text and independent of src/.

It looks at every run every time; the service must give the same answers from its
rollups and indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DAY = timedelta(hours=24)
WEEK = timedelta(days=7)


@dataclass
class RawRun:
    id: str
    started_at: datetime
    completed_at: datetime | None = None
    events_delivered: int = 0
    events_by_type: dict[str, int] | None = None
    batches_dlq: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def outcome(run: RawRun, now: datetime, window: timedelta) -> str:
    if run.completed_at is not None:
        if run.error is not None:
            return "failed"
        return "partial" if run.batches_dlq > 0 else "succeeded"
    return "orphaned" if now >= run.started_at + window else "pending"


def finished(runs: list[RawRun], now: datetime, window: timedelta) -> list[tuple[datetime, str, RawRun]]:
    out = []
    for run in runs:
        o = outcome(run, now, window)
        if o == "pending":
            continue
        time = run.completed_at if run.completed_at is not None else run.started_at + window
        out.append((time, o, run))
    # Newest first; ties broken by start time, then id (documented ordering).
    out.sort(key=lambda f: (f[0], f[2].started_at, f[2].id), reverse=True)
    return out


def events(runs_in_window: list[RawRun], event_types: list[str]) -> dict[str, int]:
    result = dict.fromkeys(event_types, 0)
    other = 0
    for run in runs_in_window:
        by_type = run.events_by_type or {}
        for key, value in by_type.items():
            result[key] = result.get(key, 0) + value
        other += run.events_delivered - sum(by_type.values())
    result = {k: v for k, v in result.items() if k in event_types or v}
    if other:
        result["other"] = other
    result["total"] = sum(r.events_delivered for r in runs_in_window)
    return result


def telemetry(
    runs: list[RawRun],
    event_types: list[str],
    now: datetime,
    window: timedelta = timedelta(minutes=15),
    error_runs: int = 3,
    error_limit: int = 10,
) -> dict[str, Any]:
    done = finished(runs, now, window)
    day = [f for f in done if now - DAY < f[0] <= now]
    week = [f for f in done if now - WEEK < f[0] <= now]
    failing = {"partial", "failed", "orphaned"}

    latest = day[:error_runs]
    if latest and all(o in failing for _, o, _ in latest):
        status = "error"
    elif any(o in failing for _, o, _ in day):
        status = "degraded"
    elif sum(r.events_delivered for _, _, r in day) > 0:
        status = "active"
    else:
        status = "idle"

    deliveries = [
        r.completed_at
        for r in runs
        if r.completed_at is not None and r.events_delivered > 0 and r.completed_at <= now
    ]
    minutes = int(window.total_seconds() // 60)
    errors = []
    for time, o, run in week:
        if o not in failing:
            continue
        if o == "failed":
            message = run.error
        elif o == "orphaned":
            message = f"loader did not report back within {minutes} minutes"
        else:
            batches = "batch" if run.batches_dlq == 1 else "batches"
            message = f"{run.batches_dlq} {batches} moved to the dead-letter queue"
        errors.append({"occurred_at": time, "message": message, "run_id": run.id})

    return {
        "status": status,
        "last_delivery_at": max(deliveries) if deliveries else None,
        "events_last_24h": events([r for _, _, r in day], event_types),
        "events_last_7d": events([r for _, _, r in week], event_types),
        "failed_deliveries_last_24h": sum(r.batches_dlq for _, _, r in day)
        + sum(1 for _, o, _ in day if o in ("failed", "orphaned")),
        "recent_errors": errors[:error_limit],
    }


def to_json(expected: dict[str, Any]) -> dict[str, Any]:
    """The telemetry answer as JSON: UTC timestamps with Z, in whole seconds."""

    def ts(value: datetime | None) -> str | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S") + ("Z")

    return {
        **expected,
        "last_delivery_at": ts(expected["last_delivery_at"]),
        "recent_errors": [{**e, "occurred_at": ts(e["occurred_at"])} for e in expected["recent_errors"]],
    }
