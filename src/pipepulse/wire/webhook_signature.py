"""Verifying the notifications pipepulse sends to a webhook channel (SPEC §7.3).

Each delivery carries ``Pipepulse-Notification-Id`` (the same on every attempt: use it to
drop repeats) and ``Pipepulse-Signature: t=<unix seconds>,v1=<hex>``, where ``v1`` is the
HMAC-SHA256, under the channel's signing secret, of ``"<t>.<raw body>"``. A receiver checks
it over the raw bytes it received, before parsing them, and refuses old timestamps so that a
captured delivery cannot be replayed later::

    from pipepulse.wire.webhook_signature import WebhookSignatureError, verify

    try:
        notification = verify(body, headers["Pipepulse-Signature"], SIGNING_SECRET)
    except WebhookSignatureError:
        ...  # answer 400 and ignore it

pipepulse signs with :func:`signature_header` from this module, so both sides share one rule.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from pipepulse.clock import utc_now

SIGNATURE_HEADER = "Pipepulse-Signature"
NOTIFICATION_ID_HEADER = "Pipepulse-Notification-Id"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


class WebhookSignatureError(ValueError):
    """The delivery is not to be trusted; the message says why (never the secret)."""


class MalformedSignatureHeader(WebhookSignatureError):
    """The ``Pipepulse-Signature`` header is missing or not ``t=<digits>,v1=<hex>``."""


class InvalidWebhookSignature(WebhookSignatureError):
    """The header is well formed but does not sign this body with this secret, or is too old."""


def _require_secret(secret: str) -> bytes:
    if not secret:
        # An empty key signs nothing anyone could not forge.
        raise ValueError("the signing secret is empty: pass the secret shown when the channel was created")
    return secret.encode()


def compute(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    key = _require_secret(secret)
    return hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Pipepulse-Signature`` value pipepulse sends with ``body`` at ``timestamp``."""
    return f"t={timestamp},{SCHEME}={compute(secret, timestamp, body)}"


def parse_header(header: str) -> tuple[int, list[str]]:
    """``(timestamp, [v1 signatures])``; several ``v1`` entries are allowed (any may match)."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise MalformedSignatureHeader(f"malformed {SIGNATURE_HEADER} header: expected t=…,v1=…")
        if key == "t":
            if not value.isdigit() or timestamp is not None:
                raise MalformedSignatureHeader(f"malformed {SIGNATURE_HEADER} header: bad or repeated t=")
            timestamp = int(value)
        elif key == SCHEME:
            if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                raise MalformedSignatureHeader(f"malformed {SIGNATURE_HEADER} header: v1 is not hex SHA-256")
            signatures.append(value)
        # Other schemes are ignored, so a future scheme can be sent beside v1.
    if timestamp is None or not signatures:
        raise MalformedSignatureHeader(f"malformed {SIGNATURE_HEADER} header: needs t= and v1=")
    return timestamp, signatures


def verify(
    body: bytes,
    header: str,
    secret: str,
    *,
    now: float | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> dict[str, Any]:
    """The notification in ``body`` once ``header`` proves pipepulse signed it recently.

    Raises :class:`MalformedSignatureHeader`, or :class:`InvalidWebhookSignature` when the
    signature does not match or is more than ``tolerance_s`` seconds from ``now`` (default:
    the system clock), and ``ValueError`` for an empty secret.
    """
    _require_secret(secret)
    timestamp, signatures = parse_header(header)
    current = utc_now().timestamp() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise InvalidWebhookSignature(f"the signature is more than {tolerance_s} s old (or in the future)")
    expected = compute(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidWebhookSignature("the signature does not match this body and secret")
    try:
        notification = json.loads(body)
    except ValueError as exc:
        raise InvalidWebhookSignature("the signed body is not JSON") from exc
    if not isinstance(notification, dict):
        raise InvalidWebhookSignature("the signed body is not a JSON object")
    return notification
