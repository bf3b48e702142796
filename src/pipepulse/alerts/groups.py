"""Alerts and their groups (SPEC §7.4): recorded from the evaluation's status events, notified
per group by the group pass of every scheduler tick.

Two thin call sites: :func:`record` in the evaluation's write transaction (with the events it
recorded), and :func:`notify_due` in the scheduler's alert pass, before delivery. A group's
notification is queued in the outbox (``notifications``, with ``group_id`` and
``group_sequence``), so delivery, retries and the delivery log work as for every notification.

Replicas: an alert is keyed by (group, connection, condition, start) and a group's id by its
rule, key and first alert, so both are written once; a group moves only where its ``version``
is still the one read (compare and set), and its n-th notification is unique, so several
schedulers queue each group notification once.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import ids
from pipepulse.alerts import group_look, group_moves, grouping
from pipepulse.alerts.changes import FRESH, LATE, STATUS_CHANGED, VOLUME_ANOMALY, Event
from pipepulse.db import dialect
from pipepulse.db.models import (
    Alert,
    AlertChannel,
    AlertGroup,
    AlertGroupWake,
    AlertRule,
    MaintenanceWindow,
    Notification,
    Organisation,
    Silence,
    WarehouseConnection,
)
from pipepulse.db.session import Database
from pipepulse.delivery import group_bodies
from pipepulse.schemas import format_timestamp

log = logging.getLogger(__name__)

# Notifications a statement of the group pass queues (21 columns each: within both databases'
# limits on bound parameters).
NOTIFICATIONS_PER_STATEMENT = 500

# The status conditions of SPEC §7.4; late and volume_anomaly come from their own events.
STATUS_CONDITIONS = ("error", "degraded")


@dataclass(frozen=True)
class Happened:
    """One recorded event of one connection, as the evaluation hands it over."""

    organisation_id: int
    connection_id: str
    connection_name: str
    connection_type: str
    event: Event
    fingerprint: str | None


@dataclass(frozen=True)
class GroupedRule:
    id: str
    # None: a platform rule, matching alerts of every organisation.
    organisation_id: int | None
    channel_id: str
    events: list[str]
    connection_ids: list[str] | None
    severity: str
    group_by: list[str]
    timing: grouping.Timing


async def grouped_rules(session: AsyncSession, organisations: set[int]) -> dict[int, list[GroupedRule]]:
    """The rules that match each organisation's alerts: its own, then the platform's (SPEC §7.4)."""
    if not organisations:
        return {}
    r, c = AlertRule, AlertChannel
    rows = await session.execute(
        select(r)
        .join(c, c.id == r.channel_id)
        .where(r.organisation_id.in_(organisations) | r.organisation_id.is_(None), c.enabled.is_(True))
        .order_by(r.created_at, r.id)
    )
    out: dict[int, list[GroupedRule]] = defaultdict(list)
    platform: list[GroupedRule] = []
    for rule in rows.scalars():
        (platform if rule.organisation_id is None else out[rule.organisation_id]).append(grouped(rule))
    if platform:
        for organisation_id in organisations:
            out[organisation_id].extend(platform)
    return out


def grouped(rule: AlertRule) -> GroupedRule:
    return GroupedRule(
        rule.id,
        rule.organisation_id,
        rule.channel_id,
        list(rule.events),
        rule.connection_ids,
        rule.severity,
        # SPEC §7.4's default; migration 0020 left no rule without one.
        list(rule.group_by if rule.group_by is not None else grouping.DEFAULT_GROUP_BY),
        grouping.Timing(rule.group_wait_seconds, rule.group_interval_seconds, rule.repeat_interval_seconds),
    )


def labels_of(h: Happened, condition: str, severity: str, slug: str, integration_type: str) -> dict[str, str]:
    return {
        "organisation": slug,
        "connection": h.connection_id,
        "type": h.connection_type,
        "integration_type": integration_type,
        "condition": condition,
        "severity": severity,
        "fingerprint": h.fingerprint or "",
    }


# The PostgreSQL advisory lock key under which a group is opened ("pp-grp" in ASCII).
GROUP_OPEN_LOCK = 0x70702D677270


class OpenGroups:
    """The open groups of the rules one transaction records alerts for, read once per rule.

    Looking a group up row by row made a storm quadratic: with a rule grouping by connection,
    the n-th connection of an outage to turn read (and decoded) the n - 1 groups opened before
    it. Here each rule's open groups are read once per transaction. The first time a group is
    missing, the transaction takes the group-opening lock and reads again: from then on no
    other replica can open a group until it commits, so what it has read, plus what it opens
    itself, stays the whole truth.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.by_rule: dict[str, dict[str, str]] = {}
        self.locked = False

    @staticmethod
    def _text(key: Mapping[str, str]) -> str:
        return json.dumps(sorted(key.items()))

    async def find(self, rule_id: str, key: Mapping[str, str]) -> str | None:
        if rule_id not in self.by_rule:
            g = AlertGroup
            rows = await self.session.execute(
                select(g.id, g.key).where(g.rule_id == rule_id, g.state == "open")
            )
            self.by_rule[rule_id] = {self._text(found_key): str(found) for found, found_key in rows}
        return self.by_rule[rule_id].get(self._text(key))

    async def lock(self) -> None:
        """Take the group-opening lock (held until the transaction ends) and forget what was
        read before it, so that the next look-ups see groups other replicas have opened."""
        # One key for every group: never two such locks taken in opposite orders.
        await dialect.serialise(self.session, GROUP_OPEN_LOCK)
        self.locked = True
        self.by_rule.clear()

    def opened(self, rule_id: str, key: Mapping[str, str], group_id: str) -> None:
        self.by_rule.setdefault(rule_id, {})[self._text(key)] = group_id


async def open_group(
    groups: OpenGroups, rule: GroupedRule, key: dict[str, str], first: datetime, now: datetime
) -> str:
    found = await groups.find(rule.id, key)
    if found is None and not groups.locked:
        # Replicas evaluating different connections of one group may both find it missing:
        # the first to open it holds this lock until it commits, and the other then finds it.
        await groups.lock()
        found = await groups.find(rule.id, key)
    if found is not None:
        return found
    group_id = grouping.group_id(rule.id, key | {"#": format_timestamp(first)})
    g = AlertGroup
    session = groups.session
    stmt = dialect.insert(dialect.name_of(session), g).on_conflict_do_nothing(index_elements=["id"])
    await session.execute(
        stmt.values(
            id=group_id,
            organisation_id=rule.organisation_id,
            rule_id=rule.id,
            channel_id=rule.channel_id,
            key=key,
            state="open",
            first_fired_at=first,
            notified=None,
            last_notified_at=None,
            next_notify_at=first,
            version=0,
            created_at=now,
        )
    )
    groups.opened(rule.id, key, group_id)
    return group_id


@dataclass(frozen=True)
class AlertChange:
    """What one event does to a connection's alerts: the condition it ends and the one it
    opens (SPEC §7.4), with what the connection was before and why."""

    ends: str | None
    opens: str | None
    from_status: str | None
    reason: dict[str, Any] | None


# The rule event that asks for each condition's alerts.
CONDITION_EVENTS = {
    "error": "status:error",
    "degraded": "status:degraded",
    "late": "late",
    "volume_anomaly": "volume_anomaly",
}


def alert_change(event: Event) -> AlertChange:
    """The alerts an event opens and ends. Pure: status changes end the old status condition
    and open the new one; ``late`` opens and ``fresh`` ends lateness; a volume anomaly opens
    one for its judged hour (ending one of another verdict still firing)."""
    data = event.data
    if event.type == STATUS_CHANGED:
        old, new = data.get("from"), data.get("to")
        return AlertChange(
            old if old in STATUS_CONDITIONS else None,
            new if new in STATUS_CONDITIONS else None,
            old,
            data.get("reason"),
        )
    if event.type == LATE:
        sla, last = data.get("sla_seconds"), data.get("last_delivery_at")
        since = f"since {last}" if last else "ever"
        text = f"No delivery {since}: later than the freshness SLA of {sla} seconds."
        return AlertChange(None, "late", None, {"code": "late", "text": text})
    if event.type == FRESH:
        return AlertChange("late", None, None, None)
    if event.type == VOLUME_ANOMALY:
        text = (
            f"{data.get('actual')} events delivered in the hour from {data.get('hour')}, "
            f"outside the expected band of {data.get('lower')} to {data.get('upper')}."
        )
        return AlertChange(
            "volume_anomaly", "volume_anomaly", None, {"code": data.get("verdict"), "text": text}
        )
    return AlertChange(None, None, None, None)


async def _end(session: AsyncSession, connection_id: str, condition: str, at: datetime) -> set[str]:
    """End a connection's firing alerts of ``condition``; the groups they are in."""
    ended = await session.execute(
        update(Alert)
        .where(Alert.connection_id == connection_id, Alert.condition == condition, Alert.ended_at.is_(None))
        .values(ended_at=at)
        .returning(Alert.group_id)
        .execution_options(synchronize_session=False)
    )
    return {str(group_id) for (group_id,) in ended}


async def wake(session: AsyncSession, group_ids: Iterable[str]) -> None:
    """Ask the next group pass to look at these groups (their answer may have changed)."""
    for chunk in dialect.chunks(session, sorted(set(group_ids))):
        await _wake_where(session, dialect.one_of(session, AlertGroup.id, chunk))


async def wake_open(session: AsyncSession, organisation_id: int | None) -> None:
    """Wake the open groups a silence or maintenance window of an organisation (None: of the
    platform) can cover: the organisation's own groups and the platform's, which hold alerts
    of every organisation."""
    g = AlertGroup
    scope = g.state == "open"
    if organisation_id is not None:
        scope = scope & ((g.organisation_id == organisation_id) | g.organisation_id.is_(None))
    await _wake_where(session, scope)


async def _wake_where(session: AsyncSession, which: ColumnElement[bool]) -> None:
    """One wake-up row for each group ``which`` selects, carrying the group's organisation."""
    g = AlertGroup
    woken = select(g.id, g.organisation_id).where(which)
    await session.execute(insert(AlertGroupWake).from_select(["group_id", "organisation_id"], woken))


async def record(
    session: AsyncSession,
    happened: Sequence[Happened],
    now: datetime,
    volume_normal: Mapping[str, datetime] | None = None,
    *,
    only: GroupedRule | None = None,
) -> int:
    """Open and end the alerts the recorded events make, for every grouped rule.

    ``volume_normal``: connections whose latest judged hour was not an anomaly, with the end of
    that hour, where their volume alert (fired for an earlier hour) ends. ``only``: open alerts
    for this one rule and end nothing (:func:`adopt_firing` replaying what already holds).
    """
    # Every group an alert opens or ends in is woken for the next group pass, in this
    # transaction: the pass reads no other group before its due time.
    touched: set[str] = set()
    for connection_id, at in (volume_normal or {}).items():
        touched |= await _end(session, connection_id, "volume_anomaly", at)
    opened = await _open_and_end(session, happened, now, only, touched)
    await wake(session, touched)
    return opened


async def _open_and_end(
    session: AsyncSession,
    happened: Sequence[Happened],
    now: datetime,
    only: GroupedRule | None,
    touched: set[str],
) -> int:
    changing = [(h, alert_change(h.event)) for h in happened]
    changing = [(h, c) for h, c in changing if c.ends is not None or c.opens is not None]
    if not changing:
        return 0
    if only is None:
        rules = await grouped_rules(session, {h.organisation_id for h, _ in changing})
    else:
        rules = {h.organisation_id: [only] for h, _ in changing}
    if not rules:
        return 0
    slugs = dict(
        (
            await session.execute(
                select(Organisation.id, Organisation.slug).where(Organisation.id.in_(rules))
            )
        ).all()
    )
    integration = dict(
        (
            await session.execute(
                select(WarehouseConnection.id, WarehouseConnection.integration_type).where(
                    WarehouseConnection.id.in_({h.connection_id for h, _ in changing})
                )
            )
        ).all()
    )
    open_groups = OpenGroups(session)
    # The alerts are written together, a few hundred rows a statement (an outage storm opens
    # hundreds in one pass); an end that concerns a connection with alerts still held back
    # writes them first, so an alert opened earlier in the pass is ended like one stored before.
    held: list[dict[str, Any]] = []
    opened = 0
    for h, change in changing:
        at = h.event.at
        if change.ends is not None and only is None:
            if any(row["connection_id"] == h.connection_id for row in held):
                opened += await _write_alerts(session, held)
            touched |= await _end(session, h.connection_id, change.ends, at)
        new = change.opens
        if new is None:
            continue
        for rule in rules.get(h.organisation_id, []):
            if CONDITION_EVENTS[new] not in rule.events:
                continue
            if rule.connection_ids is not None and h.connection_id not in rule.connection_ids:
                continue
            labels = labels_of(
                h,
                new,
                rule.severity,
                slugs.get(h.organisation_id, ""),
                integration.get(h.connection_id, ""),
            )
            group_id = await open_group(open_groups, rule, grouping.key(labels, rule.group_by), at, now)
            touched.add(group_id)
            held.append(
                {
                    "id": ids.alert_event_id(now).replace("aev_", "alr_", 1),
                    "organisation_id": h.organisation_id,
                    "group_id": group_id,
                    "connection_id": h.connection_id,
                    "condition": new,
                    "labels": labels,
                    "started_at": at,
                    "ended_at": None,
                    "from_status": change.from_status,
                    "reason": change.reason,
                    "connection": {
                        "id": h.connection_id,
                        "name": h.connection_name,
                        "type": h.connection_type,
                    },
                    "created_at": now,
                }
            )
    return opened + await _write_alerts(session, held)


ALERT_ROWS_PER_STATEMENT = 200


async def _write_alerts(session: AsyncSession, held: list[dict[str, Any]]) -> int:
    """Write the alerts held back (an alert already recorded by another replica is kept as it
    is) and empty the list; how many were attempted."""
    count = len(held)
    for start in range(0, count, ALERT_ROWS_PER_STATEMENT):
        stmt = dialect.insert(dialect.name_of(session), Alert).on_conflict_do_nothing(
            index_elements=["group_id", "connection_id", "condition", "started_at"]
        )
        await session.execute(stmt.values(held[start : start + ALERT_ROWS_PER_STATEMENT]))
    held.clear()
    return count


async def silencers(
    session: AsyncSession, organisation_id: int
) -> tuple[list[Silence], list[MaintenanceWindow]]:
    s, w = Silence, MaintenanceWindow
    found = (
        await session.execute(
            select(s).where((s.organisation_id == organisation_id) | s.organisation_id.is_(None))
        )
    ).scalars()
    windows = (
        await session.execute(
            select(w).where((w.organisation_id == organisation_id) | w.organisation_id.is_(None))
        )
    ).scalars()
    return list(found), list(windows)


async def silencers_of(
    session: AsyncSession, organisation_ids: set[int]
) -> dict[int, tuple[list[Silence], list[MaintenanceWindow]]]:
    """``silencers`` for many organisations in two reads (the platform Incidents page lists
    groups of any number of them)."""
    s, w = Silence, MaintenanceWindow
    found = (
        await session.execute(
            select(s).where(s.organisation_id.in_(organisation_ids) | s.organisation_id.is_(None))
        )
    ).scalars()
    windows = (
        await session.execute(
            select(w).where(w.organisation_id.in_(organisation_ids) | w.organisation_id.is_(None))
        )
    ).scalars()
    out: dict[int, tuple[list[Silence], list[MaintenanceWindow]]] = {o: ([], []) for o in organisation_ids}
    for x in found:
        for o in organisation_ids if x.organisation_id is None else [x.organisation_id]:
            out[o][0].append(x)
    for y in windows:
        for o in organisation_ids if y.organisation_id is None else [y.organisation_id]:
            out[o][1].append(y)
    return out


class Sweep:
    """When the group pass looks at every open group instead of the due and woken ones: on its
    first run (groups made before wake-ups existed, or woken while no scheduler ran) and every
    ``every`` after — a safety net, so a change no code path woke a group for is told within
    minutes rather than at the group's next due time."""

    def __init__(self, every: timedelta = timedelta(minutes=5)) -> None:
        self.every = every
        self.last: datetime | None = None

    def due(self, now: datetime) -> bool:
        if self.last is not None and now - self.last < self.every:
            return False
        self.last = now
        return True


async def notify_due(db: Database, now: datetime, *, public_url: str, every_group: bool = False) -> int:
    """The group pass: queue one notification for each open group that is due (SPEC §7.4).

    It looks at the open groups whose ``next_notify_at`` has come and those woken since the
    last pass (:func:`wake`), not at every open group: in an outage a fleet holds hundreds of
    open groups with thousands of alerts, and nearly all of them have nothing to say on a
    given pass. Each group looked at stores when it next needs looking at by the clock alone
    (:func:`group_look.look`). ``every_group``: look at every open group (the scheduler's periodic
    sweep, a safety net for a change that woke nothing).
    """
    queued = 0
    async with db.session(write=True) as session:
        g, w = AlertGroup, AlertGroupWake
        woken = [wake_id for (wake_id,) in await session.execute(select(w.id))]
        looked = g.state == "open"
        if not every_group:
            # Wakes written after the read above are looked at too, and kept for the next pass.
            looked = looked & ((g.next_notify_at <= now) | g.id.in_(select(w.group_id)))
        groups = list((await session.execute(select(g).where(looked).order_by(g.id))).scalars())
        if groups:
            queued = await _notify(session, groups, now, public_url)
        # Only the wake-ups read: one another transaction wrote since is kept for the next pass.
        for chunk in dialect.chunks(session, woken):
            await session.execute(
                delete(w).where(w.id.in_(chunk)).execution_options(synchronize_session=False)
            )
    if groups:
        log.debug("group pass looked at %d groups (%d woken), queued %d", len(groups), len(woken), queued)
    return queued


async def _notify(session: AsyncSession, groups: list[AlertGroup], now: datetime, public_url: str) -> int:
    rules = {
        r.id: r
        for r in (
            await session.execute(select(AlertRule).where(AlertRule.id.in_({x.rule_id for x in groups})))
        ).scalars()
    }
    # The groups' alerts in a few statements, not one per group: with group_by defaulting to
    # one group per connection, a fleet in error holds many open groups.
    of_group: dict[str, list[Alert]] = defaultdict(list)
    for chunk in dialect.chunks(session, [x.id for x in groups]):
        found_alerts = await session.execute(
            select(Alert)
            .where(dialect.one_of(session, Alert.group_id, chunk))
            .order_by(Alert.started_at, Alert.id)
        )
        for alert in found_alerts.scalars():
            of_group[alert.group_id].append(alert)
    organisations = {a.organisation_id for found in of_group.values() for a in found}
    slugs = dict(
        (
            await session.execute(
                select(Organisation.id, Organisation.slug).where(Organisation.id.in_(organisations))
            )
        ).all()
    )
    # Their organisations' silences and windows (the platform's with each) in two reads.
    by_org = await silencers_of(session, organisations)
    moves: list[tuple[AlertGroup, list[Alert], group_look.Look, group_moves.Move]] = []
    for group in groups:
        rule = rules.get(group.rule_id)
        if rule is None:
            continue
        alerts = of_group.get(group.id, [])
        seen = group_look.look(group, rule, alerts, by_org, now)
        if not seen.send and not seen.close and seen.next_look == group.next_notify_at:
            continue
        told = sorted([a, f] for a, f in seen.current) if seen.send else None
        to = group_moves.Move(group.id, group.version, seen.next_look, told, seen.close)
        moves.append((group, alerts, seen, to))
    moved = await group_moves.move(session, [m for *_, m in moves], now)
    # Only the groups this transaction moved are told: another replica moved the rest first.
    rows = [
        _notification(group, alerts, seen, slugs, now, public_url)
        for group, alerts, seen, _ in moves
        if seen.send and group.id in moved
    ]
    stmt = dialect.insert(dialect.name_of(session), Notification).on_conflict_do_nothing(
        index_elements=["group_id", "group_sequence"]
    )
    for i in range(0, len(rows), NOTIFICATIONS_PER_STATEMENT):
        await session.execute(stmt.values(rows[i : i + NOTIFICATIONS_PER_STATEMENT]))
    return len(rows)


def _notification(
    group: AlertGroup,
    alerts: list[Alert],
    seen: group_look.Look,
    slugs: Mapping[int, str],
    now: datetime,
    public_url: str,
) -> dict[str, Any]:
    """The group's notification for the outbox (queued once: its sequence in the group is unique)."""
    notification_id = ids.notification_id(now)
    firing = any(f for _, f in seen.current)
    payload = group_bodies.group_payload(
        notification_id=notification_id,
        status="firing" if firing else "resolved",
        occurred_at=now,
        organisation=_organisation_of(group, alerts, slugs),
        group={"rule_id": group.rule_id, "key": group.key, "id": group.id},
        alerts=[group_bodies.alert_json(a, seen.marks[a.id], public_url) for a in seen.told],
        dashboard=group_bodies.group_link(public_url, group.organisation_id, group.id),
        platform=group.organisation_id is None,
    )
    return {
        "id": notification_id,
        "organisation_id": group.organisation_id,
        "channel_id": group.channel_id,
        "event_id": None,
        "rule_id": group.rule_id,
        # A group of one connection (group_by naming `connection`, the default) is about
        # it: the delivery log's connection filter and its page find it.
        "connection_id": (group.key or {}).get("connection") or None,
        "type": group_bodies.GROUP_TYPE,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "hold_until": None,
        "due_at": now,
        "next_attempt_at": now,
        "last_status_code": None,
        "last_error": None,
        "created_at": now,
        "delivered_at": None,
        "group_id": group.id,
        "group_sequence": group.version + 1,
    }


def _organisation_of(
    group: AlertGroup, alerts: list[Alert], slugs: Mapping[int, str]
) -> dict[str, Any] | None:
    """The body's ``organisation``: the group's; for a platform group, the one organisation its
    key names (``group_by`` with ``organisation``), else null (a group across organisations)."""
    organisation_id = group.organisation_id
    if organisation_id is None:
        if "organisation" not in (group.key or {}) or not alerts:
            return None
        organisation_id = alerts[0].organisation_id
    return {"id": organisation_id, "slug": slugs.get(organisation_id)}
