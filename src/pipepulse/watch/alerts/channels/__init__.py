"""Channel kinds (SPEC §7.3, §7.5): one module per kind, each with a ``deliver()`` entry.

Every kind takes the notification body pipepulse stores in its outbox (the ``payload``) and
makes what its receiver expects of it. :func:`deliver` picks the kind's module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipepulse import secretbox
from pipepulse.watch.alerts import sender
from pipepulse.watch.alerts.channels import slack, webhook
from pipepulse.watch.alerts.channels.target import Target

__all__ = ["KINDS", "Target", "deliver"]

KINDS = ("webhook", "slack")


async def deliver(
    client: sender.Client, channel: Target, payload: dict[str, Any], *, now: datetime, allow_private: bool
) -> sender.Outcome:
    """One attempt to deliver ``payload`` through ``channel``."""
    if channel.undecryptable:
        return sender.Outcome(
            False,
            None,
            f"not sent: the channel's secrets cannot be decrypted here; set {secretbox.SETTING}"
            " to the key they were encrypted with",
        )
    if channel.kind == "slack":
        return await slack.deliver(client, channel, payload, now=now, allow_private=allow_private)
    if channel.kind == "webhook":
        return await webhook.deliver(client, channel, payload, now=now, allow_private=allow_private)
    return sender.Outcome(False, None, f"not sent: unknown channel kind {channel.kind!r}")
