"""A rule added while what it asks about already holds (SPEC §7.4).

Alerts open from recorded changes, so a rule added during an outage would hear of a connection
already in ``error`` only at its next change — often its recovery, told to nobody who was
paged. Alertmanager routes an alert that is already firing to a newly configured route at the
next re-send; pipepulse does the same when the rule is added: every connection of the rule's
scope whose stored evaluation holds a condition the rule asks for gets its alert in the rule's
groups, started when the condition began (the change recorded then), so the group's first
notification goes out at the next group pass once ``group_wait`` has passed since that start.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts import fingerprints
from pipepulse.alerts import groups as alert_groups
from pipepulse.alerts.changes import ANOMALIES, LATE, STATUS_CHANGED, VOLUME_ANOMALY, Event
from pipepulse.db.models import Alert, AlertEvent, AlertRule, ConnectionEvaluation, Run, WarehouseConnection

CHUNK = 500  # connections per IN list


async def adopt_firing(session: AsyncSession, rule: AlertRule, now: datetime) -> int:
    """Open the new ``rule``'s alerts for what already fires in its scope; how many opened."""
    wanted = {c for c, event in alert_groups.CONDITION_EVENTS.items() if event in rule.events}
    e, c = ConnectionEvaluation, WarehouseConnection
    holds: list[ColumnElement[bool]] = []
    statuses = [s for s in alert_groups.STATUS_CONDITIONS if s in wanted]
    if statuses:
        holds.append(e.status.in_(statuses))
    if "late" in wanted:
        holds.append(e.late.is_(True))
    if "volume_anomaly" in wanted:
        holds.append(e.volume_verdict.in_(sorted(ANOMALIES)))
    if not holds:
        return 0
    query = (
        select(
            e.connection_id,
            e.organisation_id,
            e.status,
            e.status_since,
            e.late,
            e.volume_verdict,
            c.name,
            c.type,
        )
        .join(c, c.id == e.connection_id)
        .where(or_(*holds))
        .order_by(e.connection_id)
    )
    if rule.organisation_id is not None:
        query = query.where(e.organisation_id == rule.organisation_id)
    if rule.connection_ids is not None:
        query = query.where(e.connection_id.in_(rule.connection_ids))
    rows = (await session.execute(query)).all()
    opened = 0
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        happened = await _happened(session, chunk, statuses, wanted)
        if happened:
            opened += await alert_groups.record(session, happened, now, only=alert_groups.grouped(rule))
    return opened


async def _happened(
    session: AsyncSession, rows: Sequence[Row[Any]] | Sequence[Any], statuses: list[str], wanted: set[str]
) -> list[alert_groups.Happened]:
    """The change that began each condition that holds, as the evaluation handed it over then."""
    cids = [r.connection_id for r in rows]
    latest = await _latest_events(session, cids)
    prints = await _fingerprints(session, cids)
    out: list[alert_groups.Happened] = []
    for r in rows:
        cid = r.connection_id
        events: list[Event] = []
        if r.status in statuses:
            found = latest.get((cid, STATUS_CHANGED))
            if found is not None and found.data.get("to") == r.status:
                events.append(found)
            elif r.status_since is not None:
                # The change itself has gone with the history retention; its start is kept.
                data = {"from": None, "to": r.status, "reason": None}
                events.append(Event(STATUS_CHANGED, f"{r.status}@retained", r.status_since, data))
        if "late" in wanted and r.late and (cid, LATE) in latest:
            events.append(latest[(cid, LATE)])
        if "volume_anomaly" in wanted and r.volume_verdict in ANOMALIES and (cid, VOLUME_ANOMALY) in latest:
            events.append(latest[(cid, VOLUME_ANOMALY)])
        out.extend(
            alert_groups.Happened(r.organisation_id, cid, r.name, r.type, event, prints.get(cid))
            for event in events
        )
    return out


async def _latest_events(session: AsyncSession, cids: list[str]) -> dict[tuple[str, str], Event]:
    """Each connection's latest recorded status change, lateness and volume anomaly."""
    a = AlertEvent
    rows = await session.execute(
        select(a.connection_id, a.type, a.key, a.at, a.data)
        .where(a.connection_id.in_(cids), a.type.in_([STATUS_CHANGED, LATE, VOLUME_ANOMALY]))
        .order_by(a.at, a.id)
    )
    return {(cid, kind): Event(kind, key, at, dict(data)) for cid, kind, key, at, data in rows}


async def _fingerprints(session: AsyncSession, cids: list[str]) -> dict[str, str | None]:
    """The error fingerprint of each connection's latest reported run, as the evaluation
    labels its alerts (an alert of another rule still open names the same one)."""
    out: dict[str, str | None] = {}
    rows = await session.execute(
        select(Alert.connection_id, Alert.labels).where(
            Alert.connection_id.in_(cids), Alert.ended_at.is_(None)
        )
    )
    for cid, labels in rows:
        out[cid] = (labels or {}).get("fingerprint") or None
    for cid in cids:
        if cid in out:
            continue
        run = (
            await session.execute(
                select(Run.outcome, Run.error)
                .where(Run.connection_id == cid, Run.completed_at.is_not(None))
                .order_by(Run.completed_at.desc())
                .limit(1)
            )
        ).first()
        found = fingerprints.of_run(run.outcome, run.error) if run is not None else None
        out[cid] = found[0] if found is not None else None
    return out
