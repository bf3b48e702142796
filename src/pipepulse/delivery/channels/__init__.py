"""Channel kinds (SPEC §7.3, §7.5): one module per kind, each with a ``deliver()`` entry.

Every kind takes the notification body pipepulse stores in its outbox (the ``payload``) and
makes what its receiver expects of it. :func:`deliver` picks the kind's module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pipepulse import secretbox
from pipepulse.config import Settings
from pipepulse.db.models import AlertChannel
from pipepulse.delivery import sender
from pipepulse.delivery.channels import alertmanager, email, msteams, pagerduty, slack, webhook
from pipepulse.delivery.channels.target import Options, Target

__all__ = ["KINDS", "Options", "Target", "deliver", "options_from", "target_of"]

Deliver = Callable[..., Awaitable[sender.Outcome]]
KINDS: dict[str, Deliver] = {
    "webhook": webhook.deliver,
    "slack": slack.deliver,
    "msteams": msteams.deliver,
    "pagerduty": pagerduty.deliver,
    "email": email.deliver,
    "alertmanager": alertmanager.deliver,
}


def options_from(settings: Settings) -> Options:
    return Options(
        allow_private=settings.alerts_allow_private_urls,
        pagerduty_events_url=settings.pagerduty_events_url,
        smtp_url=settings.smtp_url,
        smtp_from=settings.smtp_from,
    )


def target_of(channel: AlertChannel) -> Target:
    return Target(
        id=channel.id,
        kind=channel.kind,
        url=channel.url,
        signing_secret=channel.signing_secret,
        routing_key=channel.routing_key,
        recipients=tuple(channel.recipients or ()),
    )


async def deliver(
    client: sender.Client, channel: Target, payload: dict[str, Any], *, now: datetime, options: Options
) -> sender.Outcome:
    """One attempt to deliver ``payload`` through ``channel``."""
    if channel.undecryptable:
        return sender.Outcome(
            False,
            None,
            f"not sent: the channel's secrets cannot be decrypted here; set {secretbox.SETTING}"
            " to the key they were encrypted with",
        )
    kind = KINDS.get(channel.kind)
    if kind is None:
        return sender.Outcome(False, None, f"not sent: unknown channel kind {channel.kind!r}")
    return await kind(client, channel, payload, now=now, options=options)
