"""``slack``: an incoming-webhook message (``text`` plus ``blocks``) made from the body (SPEC §7.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipepulse.delivery import bodies, group_bodies, sender
from pipepulse.delivery.channels.target import Options, Target
from pipepulse.wire.webhook_signature import NOTIFICATION_ID_HEADER


async def deliver(
    client: sender.Client,
    channel: Target,
    payload: dict[str, Any],
    *,
    now: datetime,  # noqa: ARG001 - every kind's entry takes the same arguments
    options: Options,
) -> sender.Outcome:
    headers = {NOTIFICATION_ID_HEADER: str(payload["id"])}
    # Group notifications (SPEC §7.4) sum up the group in one message.
    is_group = payload.get("type") == group_bodies.GROUP_TYPE
    body = bodies.encode(group_bodies.slack_body(payload) if is_group else bodies.slack_body(payload))
    return await sender.post(client, channel.url, body, headers, allow_private=options.allow_private)
