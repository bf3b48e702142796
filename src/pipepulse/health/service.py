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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import Organisation, RunDailyRollup, RunHourlyRollup
from pipepulse.health import closed_hours
from pipepulse.health import repository as repo
from pipepulse.health.closed_hours import ClosedHours
from pipepulse.health.rules import TypeTally, summarise
from pipepulse.health.schemas import OrganisationHealth
from pipepulse.rollups import settled
from pipepulse.rollups.plan import TICK, Kept, Plan, Range, floor_hour, kept, rolling
from pipepulse.rules import Thresholds, finished_time


@dataclass(frozen=True)
class Whole:
    """The window's whole hours and days, by where they are read: ``kept`` (settled hours,
    kept per organisation), ``days`` (daily rollups), ``hours`` (hourly rollups)."""

    days: tuple[Range, ...] = ()
    hours: tuple[Range, ...] = ()
    kept: Range | None = None


def split_whole(plan: Plan, hours_from: datetime, settled_before: datetime) -> Whole:
    """The plan's whole days and hours (one stretch ``[first, last)``) cut at ``hours_from``
    (before it only days are kept, whole: both bounds are midnights) and at ``settled_before``."""
    whole = plan.days + plan.hours
    if not whole:
        return Whole()
    first, last = min(a for a, _ in whole), max(b for _, b in whole)
    hourly = max(first, hours_from)
    settled = min(last, settled_before)
    return Whole(
        days=((first, min(hourly, last)),) if first < min(hourly, last) else (),
        hours=((max(hourly, settled), last),) if max(hourly, settled) < last else (),
        kept=(hourly, settled) if hourly < settled else None,
    )


def edges(plan: Plan, store: Kept) -> tuple[tuple[Range, ...], Range | None]:
    """The raw edges to read run by run, and the window's last edge when its hourly rollup
    can stand in for it: ``[floor_hour(end), end)`` within raw retention (so no orphan of
    retention's is in the hour)."""
    if not plan.raw:
        return (), None
    a, b = plan.raw[-1]
    if b != plan.end or a != floor_hour(a) or a < store.raw_from:
        return plan.raw, None
    return plan.raw[:-1], (a, b)


async def organisation_health(
    session: AsyncSession,
    organisation: Organisation,
    now: datetime,
    days: int,
    thresholds: Thresholds,
    closed: ClosedHours | None = None,
) -> OrganisationHealth:
    """Finished runs of the organisation's connections with ``now - days < time <= now``.

    With ``closed``, the settled hours' sums are kept there (health/closed_hours.py) and only
    the hours it does not hold yet are read from the rollups.
    """
    window = thresholds.orphan_window
    store = kept(now, thresholds.run_retention, thresholds.rollup_retention)
    plan = rolling(now, timedelta(days=days), days=True, store=store)
    a, b = plan.start, plan.end
    org = organisation.id
    tallies: dict[str, TypeTally] = defaultdict(TypeTally)

    if closed is None:
        whole = Whole(days=plan.days, hours=plan.hours)
    else:
        version, clock = await settled.version_and_clock(session, org)
        whole = split_whole(plan, store.hours_from, settled.settled_before(clock))
    if whole.kept is not None:
        assert closed is not None
        kept_hours = closed.kept(org, version)
        stretches = closed_hours.missing(kept_hours, whole.kept)
        closed_hours.fill(kept_hours, stretches, await repo.counts_by_hour(session, org, stretches))
        for t, runs, succeeded, failing in closed_hours.sums(kept_hours, whole.kept):
            tallies[t].add(runs, succeeded, failing)
    for table, ranges in ((RunDailyRollup, whole.days), (RunHourlyRollup, whole.hours)):
        for t, runs, succeeded, failing in await repo.rollup_counts(session, org, table, ranges):
            tallies[t].add(runs, succeeded, failing)
    raw, hour_edge = edges(plan, store)
    if whole.kept is not None and raw and raw[0][0] == plan.start and raw[0][1] <= whole.kept[0]:
        # The window's first partial hour lies before the settled hours' end: its runs are kept.
        assert closed is not None
        first_hour = floor_hour(plan.start)
        counts = closed_hours.counts_from(kept_hours, first_hour, plan.start)
        if counts is None:
            closed_hours.keep_runs(
                kept_hours, first_hour, await repo.completed_in_hour(session, org, first_hour)
            )
            counts = closed_hours.counts_from(kept_hours, first_hour, plan.start)
            assert counts is not None
        for t, runs, succeeded, failing in counts:
            tallies[t].add(runs, succeeded, failing)
        raw = raw[1:]
    for t, runs, succeeded, failing in await repo.raw_counts(session, org, raw, hour_edge):
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
