"""UTC-aligned time buckets for the metrics API, and which parts of them rollups can answer.

Pure: no I/O, no clock. A bucket is half-open, ``[start, end)``, and is labelled by the start
of its aligned slot even when the requested range clips it. Slots are aligned to the Unix
epoch in their unit: ``2 hour`` buckets start at even UTC hours, ``1 week`` buckets on
Mondays, ``3 month`` buckets at calendar quarters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

TimeUnit = Literal["minute", "hour", "day", "week", "month"]
TIME_UNITS: tuple[TimeUnit, ...] = ("minute", "hour", "day", "week", "month")
MAX_BUCKETS = 10_000

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)
FIXED_UNITS: dict[str, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}


class TooManyBuckets(ValueError):
    pass


@dataclass(frozen=True)
class Bucket:
    label: datetime  # the aligned slot start
    start: datetime  # inclusive, clipped to the range
    end: datetime  # exclusive, clipped to the range


def _month_index(t: datetime) -> int:
    return t.year * 12 + t.month - 1


def _from_month_index(index: int) -> datetime:
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def slot_start(t: datetime, unit: TimeUnit, interval: int) -> datetime:
    """The start of the aligned slot holding ``t``."""
    if unit == "month":
        index = _month_index(t)
        return _from_month_index(index - (index - _month_index(EPOCH)) % interval)
    step = FIXED_UNITS[unit] * interval
    origin = EPOCH_MONDAY if unit == "week" else EPOCH
    return origin + ((t - origin) // step) * step


def next_slot(start: datetime, unit: TimeUnit, interval: int) -> datetime:
    if unit == "month":
        return _from_month_index(_month_index(start) + interval)
    return start + FIXED_UNITS[unit] * interval


def count(start: datetime, end: datetime, unit: TimeUnit, interval: int) -> int:
    """How many slots meet ``[start, end)``, computed without listing them."""
    if start >= end:
        return 0
    first = slot_start(start, unit, interval)
    last = slot_start(end - timedelta(microseconds=1), unit, interval)
    if unit == "month":
        return (_month_index(last) - _month_index(first)) // interval + 1
    return (last - first) // (FIXED_UNITS[unit] * interval) + 1


def buckets(start: datetime, end: datetime, unit: TimeUnit, interval: int) -> list[Bucket]:
    """Every bucket of ``[start, end)``, oldest first, clipped to the range."""
    n = count(start, end, unit, interval)
    if n > MAX_BUCKETS:
        raise TooManyBuckets(
            f"{interval} {unit} buckets from {start.isoformat()} to {end.isoformat()} make {n} buckets; "
            f"at most {MAX_BUCKETS} are allowed: shorten the range or widen the interval"
        )
    out: list[Bucket] = []
    label = slot_start(start, unit, interval)
    while label < end:
        following = next_slot(label, unit, interval)
        out.append(Bucket(label=label, start=max(label, start), end=min(following, end)))
        label = following
    return out


def locate(bucket_list: list[Bucket], t: datetime) -> int | None:
    """Index of the bucket holding ``t`` (binary search), or None outside the range."""
    lo, hi = 0, len(bucket_list)
    while lo < hi:
        mid = (lo + hi) // 2
        if bucket_list[mid].end <= t:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(bucket_list) and bucket_list[lo].start <= t < bucket_list[lo].end:
        return lo
    return None
