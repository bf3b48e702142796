"""The evaluation pass of every scheduler tick (SPEC §7.3).

One batched read of every connection that is not paused, through the status engine the bulk
API uses (a few statements per few thousand connections, never one per connection), with
lateness from each connection's last delivery and, once per complete hour, the volume
verdict. What differs from the stored sighting is a change; a status change is dated by the
status timeline (the exact start of the interval that holds now), read only for the few
connections that changed. Every change is then written in one transaction with its events
and the alerts they open and end (SPEC §7.4; the group pass queues the notifications): the
stored row moves only where it is still the version that was read, and an event is inserted
only if no replica has recorded the same one, so several schedulers record each event once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import ids
from pipepulse.alerts import (
    changes,
    evaluation_repository,
    fingerprints,
    selection,
    selection_repository,
    shares,
)
from pipepulse.alerts import groups as alert_groups
from pipepulse.alerts.changes import NORMAL, Event, Seen
from pipepulse.db.models import WarehouseConnection
from pipepulse.db.session import Database
from pipepulse.history import service as watch_service
from pipepulse.rollups.plan import HOUR, TICK, floor_hour
from pipepulse.rules import DAY, Status, Thresholds
from pipepulse.status import repository as status_repository
from pipepulse.status import timeline, verdicts
from pipepulse.status.reasons import Reason
from pipepulse.telemetry import service as telemetry_service
from pipepulse.telemetry.service import ConnectionStatus

log = logging.getLogger(__name__)

# Status changes dated per pass; more (a first evaluation of thousands of connections) wait for
# the next tick, untouched, so a pass stays short.
MAX_STATUS_CHANGES = 500
# How far back the start of a status interval is first looked for, in one statement for all
# changed connections, widening only for those whose interval began earlier still.
LOOKBACKS = (timedelta(days=1), timedelta(days=4), timedelta(days=16))
# Intervals older than the widest look-back (a first evaluation of a long-stable connection)
# are dated one connection at a time by the status-history service; this many per pass.
OLD_INTERVALS_PER_PASS = 25


class Step(Protocol):
    """More alerting a pass runs in its own transaction after its events are recorded (the
    caller passes it in: SPEC §7.6's burn alerts, which live above this room). ``mine``: the
    connections this replica evaluates, when replicas divide them."""

    async def __call__(
        self,
        session: AsyncSession,
        now: datetime,
        thresholds: Thresholds,
        *,
        mine: Callable[[str], bool] | None = None,
    ) -> object: ...


@dataclass(frozen=True)
class PassResult:
    connections: int
    events: int
    # Group notifications queued by the group pass that follows (SPEC §7.4).
    notifications: int
    deferred: int
    # Connections an incremental pass left alone: inputs unchanged, no horizon passed.
    skipped: int = 0


@dataclass
class Change:
    """One connection whose sighting differs from the stored one."""

    watched: evaluation_repository.Watched
    before: evaluation_repository.Stored | None
    new: Seen
    status: ConnectionStatus
    freshness: verdicts.Freshness
    volume: verdicts.Volume | None
    status_since: datetime | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.watched.ref.id

    @property
    def old(self) -> Seen:
        return self.before.seen if self.before is not None else Seen.first()


def reason_json(reason: Reason) -> dict[str, Any]:
    out: dict[str, Any] = {"code": reason.code, "text": reason.text}
    if reason.runs is not None:
        out["runs"] = list(reason.runs)
    return out


@dataclass(frozen=True)
class Dated:
    """A connection's current timeline interval: its status, exact start, reason, and the
    status of the interval before it (what a first evaluation compares with, SPEC §7.3)."""

    status: Status
    start: datetime
    reason: Reason
    previous: Status


async def _status_starts(
    session: AsyncSession, pending: dict[str, Change], now: datetime, thresholds: Thresholds
) -> dict[str, Dated]:
    """Each changed connection's current timeline interval, read from the runs by the status
    timeline, which is the truth: where the runs moved since the batched read, the timeline's
    status is the one recorded. Old intervals beyond :data:`OLD_INTERVALS_PER_PASS` wait for
    the next pass.
    """
    window = thresholds.orphan_window
    end = now + TICK
    out: dict[str, Dated] = {}
    for span in LOOKBACKS:
        if not pending:
            break
        start = now - span
        floor = start - DAY - TICK
        # The runs finished in [floor, end), that is (floor - TICK, now].
        runs = await status_repository.finished_between(session, list(pending), floor - TICK, now, window)
        for cid, change in list(pending.items()):
            engine = change.status
            delivered, newest = engine.last_delivery_at, engine.latest_run
            # Only the wording of an idle reason reads what finished before the runs read.
            prior = timeline.Prior(
                last_delivery_at=delivered if delivered is not None and delivered < floor else None,
                any_finished=newest is not None
                and newest.completed_at is not None
                and newest.completed_at < floor,
            )
            history = timeline.timeline(timeline.in_order(runs.get(cid, [])), start, end, thresholds, prior)
            current = history.intervals[-1]
            if not (len(history.intervals) == 1 and history.held_before):
                # The timeline is exact from one microsecond before its start.
                previous = history.state(current.start - TICK).status
                out[cid] = Dated(current.status, current.start, current.reason, previous)
                del pending[cid]
    for cid in list(pending)[:OLD_INTERVALS_PER_PASS]:
        connection = await session.get(WarehouseConnection, cid)
        if connection is None:
            continue
        found = await watch_service.current(session, connection, now, thresholds)
        since = found.since if found.since is not None else min(connection.created_at, now)
        out[cid] = Dated(found.state.status, since, found.since_reason, found.previous)
    return out


def _events(change: Change, now: datetime) -> list[Event]:
    old, new = change.old, change.new
    out: list[Event] = []
    fresh = change.freshness
    if new.late and not old.late:
        since = fresh.last_delivery_at or change.watched.created_at
        out.append(
            changes.late_event(since=since, sla=fresh.sla, last_delivery_at=fresh.last_delivery_at, now=now)
        )
    elif old.late and not new.late:
        out.append(changes.fresh_event(sla=fresh.sla, last_delivery_at=fresh.last_delivery_at, now=now))
    volume = change.volume
    if (
        volume is not None
        and volume.verdict is not None
        and changes.volume_changed(old.volume_verdict, new.volume_verdict)
    ):
        out.append(
            changes.volume_event(
                hour=volume.hour,
                actual=volume.actual,
                expected=volume.expected,
                lower=volume.lower,
                upper=volume.upper,
                verdict=volume.verdict,
            )
        )
    return out


async def evaluate(
    db: Database,
    now: datetime,
    thresholds: Thresholds,
    *,
    tracker: selection.Tracker | None = None,
    share: shares.Share | None = None,
    steps: Sequence[Step] = (),
) -> PassResult:
    """Evaluate every connection that is not paused at ``now``; record and queue what changed.

    With a ``tracker`` (the scheduler's alert loop) only the connections whose inputs changed
    since its last pass, or whose horizon passed, are read (see :mod:`selection`); with a
    ``share``, only the connections of this replica's partitions (see :mod:`shares`). Each of
    ``steps`` runs in the pass's transaction after the status events are recorded."""
    hour = floor_hour(now) - HOUR
    baseline = verdicts.baseline_hours(hour)
    async with db.session() as session:
        picked = await _pick(session, tracker, now, thresholds, share)
        scope = picked.scope if picked is not None else None
        connections = await evaluation_repository.watched(session, scope)
        stored = await evaluation_repository.stored(session, scope)
        engine = await telemetry_service.statuses(session, [w.ref for w in connections], now, thresholds)
        judge = [
            w.ref.id for w in connections if (s := stored.get(w.ref.id)) is None or s.volume_hour != hour
        ]
        volumes: dict[str, verdicts.Volume] = {}
        if judge:
            found = await status_repository.hour_volumes(
                session, judge, [hour, *baseline], thresholds.orphan_window
            )
            for cid in judge:
                per = found.get(cid, {})
                volumes[cid] = verdicts.volume(hour, per.get(hour, 0), [per[h] for h in baseline if h in per])

        changed: list[Change] = []
        for w in connections:
            cid = w.ref.id
            before = stored.get(cid)
            old = before.seen if before is not None else Seen.first()
            status = engine[cid]
            sla = verdicts.freshness_sla(
                w.freshness_sla_seconds, w.schedule_interval_seconds, thresholds.orphan_window
            )
            fresh = verdicts.freshness(
                state=w.state,
                sla=sla,
                last_delivery_at=status.last_delivery_at,
                created_at=w.created_at,
                now=now,
            )
            volume = volumes.get(cid)
            verdict = (volume.verdict or NORMAL) if volume is not None else old.volume_verdict
            new = Seen(status.status, fresh.late, verdict)
            if before is None or new != old:
                changed.append(Change(w, before, new, status, fresh, volume))

        # Changes someone may be notified of are dated first when a pass cannot date them all.
        moved = {
            c.id: c
            for c in sorted(
                (c for c in changed if c.new.status != c.old.status or _first_with_history(c)),
                key=lambda c: changes.notifiable(c.old.status, c.new.status),
                reverse=True,
            )
        }
        dated = await _status_starts(session, dict(list(moved.items())[:MAX_STATUS_CHANGES]), now, thresholds)
        deferred = {cid for cid in moved if cid not in dated}
        ready = [c for c in changed if c.id not in deferred]
        for change in ready:
            change.events = _events(change, now)
            interval = dated.get(change.id)
            if interval is not None:
                change.new = replace(change.new, status=interval.status)
                # SPEC §7.3: a first evaluation compares with the interval before the current one.
                was = change.before.seen.status if change.before is not None else interval.previous
                if interval.status != was:
                    change.status_since = interval.start
                    change.events.insert(
                        0,
                        changes.status_event(
                            was, interval.status, interval.start, reason_json(interval.reason)
                        ),
                    )
                else:
                    change.status_since = change.before.status_since if change.before else interval.start
            elif change.before is not None:
                change.status_since = change.before.status_since

    async with db.session(write=True) as session:
        inserted = await evaluation_repository.insert_first(
            session, [_row(c, hour, now) | {"version": 0} for c in ready if c.before is None]
        )
        claimed = await evaluation_repository.claim_changes(
            session,
            [
                (change.id, change.before.version, _update(change, hour, change.id in volumes, now))
                for change in ready
                if change.before is not None
            ],
        )
        # Changes another scheduler wrote first (with their events) are left to it.
        owned = [c for c in ready if (c.id in inserted if c.before is None else c.id in claimed)]
        events = [(change, event, ids.alert_event_id(now)) for change in owned for event in change.events]
        recorded_ids = await evaluation_repository.record_events(
            session,
            [
                {
                    "id": event_id,
                    "organisation_id": change.watched.ref.organisation_id,
                    "connection_id": change.id,
                    "type": event.type,
                    "key": event.key,
                    "at": event.at,
                    "data": event.data,
                    "created_at": now,
                }
                for change, event, event_id in events
            ],
        )
        recorded = len(recorded_ids)
        # SPEC §7.4: the alerts these events open and end (every rule groups; notifications are
        # queued per group by the group pass); a volume alert fires until an hour is judged
        # normal again.
        await alert_groups.record(
            session,
            [
                alert_groups.Happened(
                    change.watched.ref.organisation_id,
                    change.id,
                    change.watched.ref.name,
                    change.watched.type,
                    event,
                    _fingerprint(change),
                )
                for change, event, event_id in events
                if event_id in recorded_ids
            ],
            now,
            volume_normal={
                c.id: c.volume.hour + HOUR
                for c in owned
                if c.volume is not None
                and c.old.volume_verdict in changes.ANOMALIES
                and c.new.volume_verdict not in changes.ANOMALIES
            },
        )
        # SPEC §7.6: objectives' burn conditions open and end alerts the same way.
        for step in steps:
            await step(session, now, thresholds, mine=share.holds if share is not None else None)
        unchanged = [cid for cid in volumes if cid not in deferred]
        await evaluation_repository.advance_volume_hour(session, unchanged, hour)
    if deferred:
        log.info("evaluation deferred %d status change(s) to the next tick", len(deferred))
    skipped = 0
    if tracker is not None and picked is not None:
        tracker.settle(picked, now, deferred)
        skipped = max(0, len(picked.signatures) - len(connections))
    return PassResult(len(connections), recorded, 0, len(deferred), skipped)


async def _pick(
    session: AsyncSession,
    tracker: selection.Tracker | None,
    now: datetime,
    thresholds: Thresholds,
    share: shares.Share | None = None,
) -> selection.Picked | None:
    """The connections this pass visits, with their horizons (None: every one, untracked)."""
    if tracker is None and share is None:
        return None
    found = await selection_repository.inputs(session)
    if share is not None:
        found = {cid: row for cid, row in found.items() if share.holds(cid)}
        if tracker is None:
            return selection.Picked(None, found, scope=list(found))
        # What this replica remembers of a partition it has just taken is from before another
        # replica evaluated it: those connections are visited as new.
        tracker.forget(share.taken_over)
    assert tracker is not None
    ids = tracker.choose(found, now)
    visit = list(found) if ids is None else ids
    edges = await selection_repository.edges(session, visit, now, thresholds)
    horizons = {
        cid: selection.horizon(
            selection_repository.inputs_of(found[cid], thresholds), edge, now, thresholds.orphan_window
        )
        for cid, edge in edges.items()
        if cid in found
    }
    return selection.Picked(
        ids, found, horizons, scope=list(found) if ids is None and share is not None else ids
    )


def _first_with_history(change: Change) -> bool:
    """A first evaluation of a connection that has completed a run: the interval before the
    current one may be another status (an idle connection may have been active yesterday).
    One that never completed a run has been idle all along."""
    return change.before is None and change.status.latest_run is not None


def _fingerprint(change: Change) -> str | None:
    run = change.status.latest_run
    found = fingerprints.of_run(run.outcome, run.error) if run is not None else None
    return found[0] if found is not None else None


def _update(change: Change, hour: datetime, judged: bool, now: datetime) -> dict[str, Any]:
    """A stored row's new values: the volume hour moves only when this pass judged it."""
    assert change.before is not None
    values = _row(change, hour if judged else change.before.volume_hour, now)
    del values["connection_id"], values["organisation_id"]
    return values


def _row(change: Change, volume_hour: datetime | None, now: datetime) -> dict[str, Any]:
    ref = change.watched.ref
    return {
        "connection_id": ref.id,
        "organisation_id": ref.organisation_id,
        "status": change.new.status,
        "status_since": change.status_since,
        "late": change.new.late,
        "volume_verdict": change.new.volume_verdict,
        "volume_hour": volume_hour,
        "changed_at": now,
    }
