"""The per-type sums of settled hours that organisation health keeps, per organisation.

A month of organisation health is 720 hours of every connection's rollups: 720,000 rows
for 1,000 connections, summed again on every request although all but the newest hours
cannot change. Each serving process keeps, per organisation, what each settled hour
(rollups/settled.py) summed to per integration type, under the organisation's
``rollups_version``; a request reads the newest hours from the rollups, fills in the settled
hours it does not hold yet (one statement) and adds up the rest in memory.

Memory: one small tuple per hour and integration type, for the organisations read most
recently (``ORGANISATIONS``); a month of one organisation with five types is ≈ 150 KB.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pipepulse.rollups.plan import DAY, HOUR, Range, floor_day

# (integration type, runs, succeeded, failing) of one hour.
TypeCounts = tuple[str, int, int, int]
ORGANISATIONS = 64


Totals = dict[str, list[int]]


@dataclass
class Kept:
    """One organisation's settled hours under one version: each hour's per-type sums, and
    the totals of each whole UTC day once all its hours are held (a month is 30 of them)."""

    version: int = -1
    hours: dict[datetime, tuple[TypeCounts, ...]] = field(default_factory=dict)
    days: dict[datetime, Totals] = field(default_factory=dict)
    # A window's first hour, whose start is part-way through: its runs' completion times per
    # type, successes and failing runs apart, sorted (a few recent such hours).
    runs: dict[datetime, dict[str, tuple[list[datetime], list[datetime]]]] = field(default_factory=dict)


EDGE_HOURS = 4


class ClosedHours:
    """Settled hours' sums per organisation, for the most recently read organisations."""

    def __init__(self, organisations: int = ORGANISATIONS) -> None:
        self._limit = organisations
        self._kept: OrderedDict[int, Kept] = OrderedDict()

    def kept(self, organisation_id: int, version: int) -> Kept:
        """What is kept under ``version``, to read and fill in. A request that read an older
        version than the one kept (another write came between) gets a store of its own."""
        kept = self._kept.get(organisation_id)
        if kept is None or kept.version < version:
            kept = self._kept[organisation_id] = Kept(version)
        elif kept.version > version:
            return Kept(version)
        self._kept.move_to_end(organisation_id)
        while len(self._kept) > self._limit:
            self._kept.popitem(last=False)
        return kept


def _steps(wanted: Range) -> list[tuple[datetime, datetime, bool]]:
    """``wanted`` as (start, end, whole day) pieces: hours up to the first midnight, whole
    days, hours after the last."""
    start, end = wanted
    out = []
    day = floor_day(start)
    while start < end:
        next_day = day + DAY
        piece_end = min(end, next_day)
        out.append((start, piece_end, start == day and piece_end == next_day))
        start, day = piece_end, next_day
    return out


def missing(kept: Kept, wanted: Range) -> list[Range]:
    """The stretches of ``wanted`` that ``kept`` does not hold."""
    out: list[Range] = []
    for start, end, whole in _steps(wanted):
        if whole and start in kept.days:
            continue
        hour = start
        while hour < end:
            if hour not in kept.hours:
                if out and out[-1][1] == hour:
                    out[-1] = (out[-1][0], hour + HOUR)
                else:
                    out.append((hour, hour + HOUR))
            hour += HOUR
    return out


def fill(kept: Kept, stretches: Iterable[Range], rows: Iterable[tuple[datetime, TypeCounts]]) -> None:
    """Put what was read for ``stretches`` into ``kept``: every hour, the empty ones too."""
    read: dict[datetime, list[TypeCounts]] = {}
    for start, end in stretches:
        hour = start
        while hour < end:
            read[hour] = []
            hour += HOUR
    for hour, counts in rows:
        read[hour].append(counts)
    kept.hours.update((hour, tuple(counts)) for hour, counts in read.items())


def _add(totals: Totals, name: str, runs: int, succeeded: int, failing: int) -> None:
    t = totals.get(name)
    if t is None:
        totals[name] = [runs, succeeded, failing]
    else:
        t[0] += runs
        t[1] += succeeded
        t[2] += failing


def sums(kept: Kept, wanted: Range) -> list[TypeCounts]:
    """Per type, the sums over ``wanted`` (every hour of which ``kept`` holds)."""
    totals: Totals = {}
    for start, end, whole in _steps(wanted):
        day = kept.days.get(start) if whole else None
        if day is None:
            piece: Totals = {}
            hour = start
            while hour < end:
                for counts in kept.hours[hour]:
                    _add(piece, *counts)
                hour += HOUR
            if whole:
                kept.days[start] = day = piece
            else:
                day = piece
        for name, (runs, succeeded, failing) in day.items():
            _add(totals, name, runs, succeeded, failing)
    return [(name, t[0], t[1], t[2]) for name, t in totals.items()]


def keep_runs(kept: Kept, hour: datetime, rows: Iterable[tuple[str, datetime, bool]]) -> None:
    """Keep the runs completed in ``hour`` (type, time, succeeded), for :func:`counts_from`."""
    by_type: dict[str, tuple[list[datetime], list[datetime]]] = {}
    for name, at, succeeded in rows:
        by_type.setdefault(name, ([], []))[0 if succeeded else 1].append(at)
    for successes, failing in by_type.values():
        successes.sort()
        failing.sort()
    kept.runs[hour] = by_type
    while len(kept.runs) > EDGE_HOURS:  # the hour kept first goes first
        del kept.runs[next(iter(kept.runs))]


def counts_from(kept: Kept, hour: datetime, start: datetime) -> list[TypeCounts] | None:
    """Per type, the runs of ``hour`` completed at ``start`` or later; None if not kept."""
    by_type = kept.runs.get(hour)
    if by_type is None:
        return None
    out = []
    for name, (successes, failing) in by_type.items():
        s = len(successes) - bisect_left(successes, start)
        f = len(failing) - bisect_left(failing, start)
        out.append((name, s + f, s, f))
    return out
