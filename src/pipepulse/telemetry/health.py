"""Organisation integration health (SPEC §4.4) over the exact window ``(now - days, now]``.

Whole days come from the daily rollups, whole hours at either end of them from the hourly
rollups, the partial hours at the window's two edges from raw runs, and orphans from the
pending rows, so the cost does not grow with the history or the window's length.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import Organisation, RunDailyRollup, RunHourlyRollup
from pipepulse.telemetry import health_repository as repo
from pipepulse.telemetry.buckets import ceil_hour
from pipepulse.telemetry.health_rules import OrganisationHealth, TypeTally, summarise
from pipepulse.telemetry.rollups import floor_day, floor_hour
from pipepulse.telemetry.rules import Thresholds, finished_time

TICK = timedelta(microseconds=1)
DAY = timedelta(days=1)


def ceil_day(t: datetime) -> datetime:
    floor = floor_day(t)
    return floor if floor == t else floor + DAY


def plan(a: datetime, b: datetime) -> tuple[list[tuple[datetime, datetime]], ...]:
    """Split ``[a, b)`` into (raw ranges, whole-hour ranges, whole-day ranges), covering it exactly."""
    first_hour, last_hour = ceil_hour(a), floor_hour(b)
    if first_hour >= last_hour:
        return [(a, b)], [], []
    raw = [(a, first_hour), (last_hour, b)]
    first_day, last_day = ceil_day(first_hour), floor_day(last_hour)
    if first_day >= last_day:
        return raw, [(first_hour, last_hour)], []
    return raw, [(first_hour, first_day), (last_day, last_hour)], [(first_day, last_day)]


def _nonempty(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    return [(x, y) for x, y in ranges if x < y]


async def organisation_health(
    session: AsyncSession, organisation: Organisation, now: datetime, days: int, thresholds: Thresholds
) -> OrganisationHealth:
    """Finished runs of the organisation's connections with ``now - days < time <= now``."""
    window = thresholds.orphan_window
    a, b = now - timedelta(days=days) + TICK, now + TICK
    raw, hours, whole_days = (_nonempty(r) for r in plan(a, b))
    org = organisation.id
    tallies: dict[str, TypeTally] = defaultdict(TypeTally)

    for table, ranges in ((RunDailyRollup, whole_days), (RunHourlyRollup, hours)):
        for t, runs, succeeded, failing in await repo.rollup_counts(session, org, table, ranges):
            tallies[t].add(runs, succeeded, failing)
    for t, runs, succeeded, failing in await repo.raw_counts(session, org, raw):
        tallies[t].add(runs, succeeded, failing)
    for t, last, last_success, last_failure in await repo.latest_times(session, org, a, b):
        tallies[t].seen(event=last, success=last_success, error=last_failure)
    # Orphans count at started_at + window; only those orphaned by now exist.
    for t, started_at in await repo.orphans(session, org, a - window, b - window):
        tallies[t].add(1, 0, 1)
        tallies[t].seen(error=finished_time(started_at, None, window))

    types = await repo.integration_types(session, org)
    return summarise(organisation.slug, days, types, tallies)
