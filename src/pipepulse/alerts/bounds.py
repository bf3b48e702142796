"""SPEC §7.4's bounds on what one organisation may create, and the identical-rule check."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import AlertChannel, AlertRule
from pipepulse.errors import Conflict, Invalid


async def _count(session: AsyncSession, model: Any, organisation_id: int) -> int:
    found = await session.scalar(
        select(func.count()).select_from(model).where(model.organisation_id == organisation_id)
    )
    return int(found or 0)


async def check_channels(session: AsyncSession, organisation_id: int, bound: int) -> None:
    if await _count(session, AlertChannel, organisation_id) >= bound:
        raise Invalid(
            f"this organisation already has {bound} alert channels, the most "
            "PIPEPULSE_ALERTS_MAX_CHANNELS_PER_ORG allows; delete one first"
        )


async def check_rule(session: AsyncSession, organisation_id: int, rule: dict[str, Any], bound: int) -> None:
    """Over the bound: 422 naming the setting. The same channel, events, connections, severity
    and grouping as an existing rule: 409 naming it (it would only send everything twice)."""
    if await _count(session, AlertRule, organisation_id) >= bound:
        raise Invalid(
            f"this organisation already has {bound} alert rules, the most "
            "PIPEPULSE_ALERTS_MAX_RULES_PER_ORG allows; delete one first"
        )
    r = AlertRule
    existing = (
        await session.execute(
            select(r).where(r.organisation_id == organisation_id, r.channel_id == rule["channel_id"])
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
