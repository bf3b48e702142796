"""SPEC §7.4's bounds on what one organisation may create, and the identical-rule check.

The platform's channels and rules (scope None) are bounded by the same settings, as a scope of
their own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts.repository import Scope, in_scope
from pipepulse.db.models import AlertChannel, AlertRule
from pipepulse.errors import Conflict, Invalid


async def _count(session: AsyncSession, model: Any, scope: Scope) -> int:
    found = await session.scalar(
        select(func.count()).select_from(model).where(in_scope(model.organisation_id, scope))
    )
    return int(found or 0)


def _who(scope: Scope) -> str:
    return "the platform" if scope is None else "this organisation"


async def check_channels(session: AsyncSession, scope: Scope, bound: int) -> None:
    if await _count(session, AlertChannel, scope) >= bound:
        raise Invalid(
            f"{_who(scope)} already has {bound} alert channels, the most "
            "PIPEPULSE_ALERTS_MAX_CHANNELS_PER_ORG allows; delete one first"
        )


async def check_rule(session: AsyncSession, scope: Scope, rule: dict[str, Any], bound: int) -> None:
    """Over the bound: 422 naming the setting. The same channel, events, connections, severity
    and grouping as an existing rule: 409 naming it (it would only send everything twice)."""
    if await _count(session, AlertRule, scope) >= bound:
        raise Invalid(
            f"{_who(scope)} already has {bound} alert rules, the most "
            "PIPEPULSE_ALERTS_MAX_RULES_PER_ORG allows; delete one first"
        )
    r = AlertRule
    existing = (
        await session.execute(
            select(r).where(in_scope(r.organisation_id, scope), r.channel_id == rule["channel_id"])
        )
    ).scalars()
    for other in existing:
        if _shape(other.__dict__) == _shape(rule):
            raise Conflict(
                f"an identical rule already exists ({other.id}): it already sends these events of these"
                " connections to this channel"
            )


def _shape(rule: dict[str, Any]) -> tuple[Any, ...]:
    ids = rule.get("connection_ids")
    group_by = rule.get("group_by")
    return (
        rule["channel_id"],
        frozenset(rule["events"]),
        None if ids is None else frozenset(ids),
        rule.get("min_duration_seconds", 0),
        rule.get("severity", "critical"),
        None if group_by is None else frozenset(group_by),
        rule.get("group_wait_seconds", 10),
        rule.get("group_interval_seconds", 300),
        rule.get("repeat_interval_seconds", 14_400),
    )
