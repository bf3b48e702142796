"""``msteams``: a Microsoft Teams Workflows webhook, sent an Adaptive Card 1.4 (SPEC §7.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipepulse.delivery import bodies, group_bodies, sender
from pipepulse.delivery.channels.target import Options, Target
from pipepulse.wire.webhook_signature import NOTIFICATION_ID_HEADER

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def card(payload: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card: what changed, for how many connections, why, and a link."""
    headline, change, why, since = bodies.describe(payload)
    link = (payload.get("links") or {}).get("dashboard")
    connection = payload.get("connection") or {}
    counts = payload.get("counts") or {}
    affected = counts.get("firing", 1 if connection else 0)
    grouped = payload.get("type") == group_bodies.GROUP_TYPE
    who = group_bodies.affected(payload) if grouped else str(connection.get("name") or "—")
    facts = [
        {"title": "Connection", "value": who},
        {"title": "Change", "value": change},
        {"title": "Connections affected", "value": str(affected)},
        {"title": "Reason", "value": why or "—"},
        {"title": "Since", "value": since or "—"},
    ]
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": headline, "weight": "Bolder", "size": "Medium", "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
    }
    if link:
        label = "Open incident" if grouped else "Open Streaming Status" if connection else "Open Alerts"
        content["actions"] = [{"type": "Action.OpenUrl", "title": label, "url": link}]
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": content}],
    }


async def deliver(
    client: sender.Client,
    channel: Target,
    payload: dict[str, Any],
    *,
    now: datetime,  # noqa: ARG001 - every kind's entry takes the same arguments
    options: Options,
) -> sender.Outcome:
    headers = {NOTIFICATION_ID_HEADER: str(payload["id"])}
    body = bodies.encode(card(payload))
    return await sender.post(client, channel.url, body, headers, allow_private=options.allow_private)
