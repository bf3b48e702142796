"""``webhook``: the JSON body, signed twice (SPEC §7.3, §7.5).

``Pipepulse-Signature: t=…,v1=<hex HMAC-SHA256>`` keys with the whole ``signing_secret``
string (Stripe's scheme and verifier); the Standard Webhooks headers ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<t>.<body>">``
key with the bytes the standard defines: the base64 after ``whsec_``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from typing import Any

from pipepulse.delivery import bodies, sender
from pipepulse.delivery.channels.target import Options, Target
from pipepulse.wire.webhook_signature import NOTIFICATION_ID_HEADER, SIGNATURE_HEADER, signature_header

SECRET_PREFIX = "whsec_"


def standard_key(secret: str) -> bytes:
    """The Standard Webhooks key of a ``whsec_`` secret: its base64 decoded.

    Secrets issued before §7.5 used the URL-safe alphabet without padding; they decode too.
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def standard_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers for ``body`` sent at ``timestamp``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
    }


def request(secret: str, payload: dict[str, Any], now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt."""
    body = bodies.encode(payload)
    message_id = str(payload["id"])
    timestamp = int(now.timestamp())
    return body, {
        NOTIFICATION_ID_HEADER: message_id,
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
        **standard_headers(secret, message_id, timestamp, body),
    }


async def deliver(
    client: sender.Client, channel: Target, payload: dict[str, Any], *, now: datetime, options: Options
) -> sender.Outcome:
    if not channel.signing_secret:
        return sender.Outcome(False, None, "not sent: the channel has no signing secret")
    body, headers = request(channel.signing_secret, payload, now)
    return await sender.post(client, channel.url, body, headers, allow_private=options.allow_private)
