"""Organisation integration health (SPEC §4.4) over the exact window ``(now - days, now]``.

Whole days come from the daily rollups, whole hours at either end of them from the hourly
rollups, the partial hours at the window's two edges from raw runs, and orphans from the
pending rows, so the cost does not grow with the history or the window's length; every
statement is grouped by integration type in the database, so neither does the Python work
grow with the number of connections or runs.

A window that starts before raw retention (SPEC §8) is counted from the start of that hour
(before hourly rollup retention, of that day); ``precision`` says so. The latest times come
from what every report keeps per connection, so they stay exact; the rollups' hours stand in
only where a connection's kept times lie ahead of the window (a loader's clock ahead).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import Organisation, RunDailyRollup, RunHourlyRollup
from pipepulse.health import repository as repo
from pipepulse.health.rules import TypeTally, summarise
from pipepulse.health.schemas import OrganisationHealth
from pipepulse.rollups.plan import TICK, kept, rolling
from pipepulse.rules import Thresholds, finished_time


async def organisation_health(
    session: AsyncSession, organisation: Organisation, now: datetime, days: int, thresholds: Thresholds
) -> OrganisationHealth:
    """Finished runs of the organisation's connections with ``now - days < time <= now``."""
    window = thresholds.orphan_window
    store = kept(now, thresholds.run_retention, thresholds.rollup_retention)
    plan = rolling(now, timedelta(days=days), days=True, store=store)
    a, b = plan.start, plan.end
    org = organisation.id
    tallies: dict[str, TypeTally] = defaultdict(TypeTally)

    for table, ranges in ((RunDailyRollup, plan.days), (RunHourlyRollup, plan.hours)):
        for t, runs, succeeded, failing in await repo.rollup_counts(session, org, table, ranges):
            tallies[t].add(runs, succeeded, failing)
    for t, runs, succeeded, failing in await repo.raw_counts(session, org, plan.raw):
        tallies[t].add(runs, succeeded, failing)
    for t, last, last_success, last_failure in await repo.latest_times(session, org, a, b):
        tallies[t].seen(event=last, success=last_success, error=last_failure)
    # Beyond raw retention only the rollups know when runs happened, to the hour (or day); a
    # time the raw runs hold is always later, and seen() keeps the latest.
    hourly_from = max(a, store.hours_from)
    older: list[tuple[type[RunHourlyRollup] | type[RunDailyRollup], datetime, datetime]] = [
        (RunHourlyRollup, hourly_from, min(b, store.raw_from)),
        (RunDailyRollup, a, min(b, hourly_from)),
    ]
    for table, start, end in older:
        for t, last, last_success, last_failure in await repo.rollup_latest(session, org, table, start, end):
            tallies[t].seen(event=last, success=last_success, error=last_failure)
    # Orphans count at started_at + window; only those orphaned by now exist.
    for t, count, latest_start in await repo.orphans(session, org, a - window, b - window):
        tallies[t].add(count, 0, count)
        tallies[t].seen(error=finished_time(latest_start, None, window))

    types = await repo.integration_types(session, org)
    answer = summarise(organisation.slug, days, types, tallies)
    answer.precision = plan.precision
    answer.counted_from = a - TICK if plan.precision == "exact" else a
    return answer
