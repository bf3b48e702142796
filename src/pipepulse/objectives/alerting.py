"""SPEC §7.6's burn conditions in the alert pipeline (§7.4): each evaluation pass opens an alert
for every grouping rule that asks for ``budget_burn_fast`` / ``budget_burn_slow`` when an
objective's condition holds, dated at the exact instant it started (objectives/burn.py), and
ends it at the exact instant it stopped. The alerts then go through groups, silences and
channels as status alerts do.

The open alerts are the state: an objective's condition is burning while it has an open alert.
A start is looked for over the last ``LOOK_BACK``; a condition holding longer than that (it
would have been alerted on long before) is dated at its beginning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import ids
from pipepulse.alerts import grouping
from pipepulse.alerts import groups as alert_groups
from pipepulse.db import dialect
from pipepulse.db.models import Alert, Objective, Organisation, WarehouseConnection
from pipepulse.objectives import burn, repository, service, sli
from pipepulse.rules import Thresholds

LOOK_BACK = timedelta(hours=7)
# Bad time is read far enough back for the longest look-back at the earliest instant examined.
READ_BACK = LOOK_BACK + max(c.long for c in burn.BURN_CONDITIONS)


async def record(
    session: AsyncSession, now: datetime, thresholds: Thresholds, *, mine: Callable[[str], bool] | None = None
) -> int:
    """Open and end burn alerts at ``now``; returns how many alerts were opened.

    ``mine``: the connections this replica evaluates (its share), when replicas divide them."""
    objectives = list((await session.execute(select(Objective))).scalars())
    if not objectives:
        return 0
    by_organisation: dict[int, list[Objective]] = defaultdict(list)
    for objective in objectives:
        by_organisation[objective.organisation_id].append(objective)
    rules = {
        org: [r for r in found if set(r.events) & set(burn.CONDITION_NAMES)]
        for org, found in (await alert_groups.grouped_rules(session, set(by_organisation))).items()
    }
    rules = {org: found for org, found in rules.items() if found}
    a = Alert
    open_alerts: dict[tuple[str, str, str], list[Alert]] = defaultdict(list)
    for alert in (
        await session.execute(
            select(a).where(
                a.organisation_id.in_(by_organisation),
                a.condition.in_(burn.CONDITION_NAMES),
                a.ended_at.is_(None),
            )
        )
    ).scalars():
        open_alerts[(alert.connection_id, alert.labels.get("objective", ""), alert.condition)].append(alert)
    if not rules and not open_alerts:
        return 0
    c = WarehouseConnection
    connections = (
        await session.execute(select(c).where(c.organisation_id.in_(by_organisation)).order_by(c.id))
    ).scalars()
    opened = 0
    for connection in list(connections):
        if mine is not None and not mine(connection.id):
            continue
        held = by_organisation[connection.organisation_id]
        applying = [o for o in held if o.connection_id == connection.id] or [
            o for o in held if o.connection_id is None
        ]
        organisation = await session.get(Organisation, connection.organisation_id)
        assert organisation is not None
        windows = await repository.maintenance_windows(session, connection.organisation_id)
        for objective in applying:
            indicator: sli.Indicator = "freshness" if objective.indicator == "freshness" else "availability"
            labels = service.labels(connection, organisation, indicator)
            excluded = sli.maintenance_spans(windows, labels, now - READ_BACK, now)
            bad = await service.bad_time(session, connection, indicator, now - READ_BACK, now, thresholds)
            target = objective.target_percent
            for condition in burn.BURN_CONDITIONS:
                key = (connection.id, objective.id, condition.name)
                for alert in open_alerts.get(key, []):
                    ended = burn.ended_at(condition, bad, excluded, alert.started_at, now, target)
                    if ended is not None:
                        await session.execute(
                            update(a).where(a.id == alert.id, a.ended_at.is_(None)).values(ended_at=ended)
                        )
                        await alert_groups.wake(session, [alert.group_id])
                    else:
                        break  # still burning: nothing to open
                else:
                    began = burn.started_at(condition, bad, excluded, now - LOOK_BACK, now, target)
                    if began is not None:
                        opened += await _open(
                            session,
                            rules.get(connection.organisation_id, []),
                            connection,
                            organisation,
                            objective,
                            condition,
                            began,
                            now,
                        )
    return opened


async def _open(
    session: AsyncSession,
    rules: list[alert_groups.GroupedRule],
    connection: WarehouseConnection,
    organisation: Organisation,
    objective: Objective,
    condition: burn.BurnCondition,
    began: datetime,
    now: datetime,
) -> int:
    opened = 0
    groups = alert_groups.OpenGroups(session)
    for rule in rules:
        if condition.name not in rule.events:
            continue
        if rule.connection_ids is not None and connection.id not in rule.connection_ids:
            continue
        labels = {
            "organisation": organisation.slug,
            "connection": connection.id,
            "type": connection.type,
            "integration_type": connection.integration_type,
            "condition": condition.name,
            "severity": rule.severity,
            "fingerprint": "",
            "objective": objective.id,
            "indicator": objective.indicator,
        }
        group_id = await alert_groups.open_group(
            groups, rule, grouping.key(labels, rule.group_by), began, now
        )
        stmt = dialect.insert(dialect.name_of(session), Alert).on_conflict_do_nothing(
            index_elements=["group_id", "connection_id", "condition", "started_at"]
        )
        await session.execute(
            stmt.values(
                id=ids.alert_event_id(now).replace("aev_", "alr_", 1),
                organisation_id=connection.organisation_id,
                group_id=group_id,
                connection_id=connection.id,
                condition=condition.name,
                labels=labels,
                started_at=began,
                ended_at=None,
                from_status=None,
                reason={
                    "text": f"{objective.indicator} objective {objective.target_percent} %: {condition.name}"
                },
                connection={"id": connection.id, "name": connection.name, "type": connection.type},
                created_at=now,
            )
        )
        await alert_groups.wake(session, [group_id])
        opened += 1
    return opened
