"""Verifying that an invocation came from pipepulse's ``http`` dispatcher.

The dispatcher sends ``x-pipepulse-timestamp`` (Unix seconds) and ``x-pipepulse-signature``
(``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body`` under the shared secret). A
loader recomputes it over the raw body and refuses stale timestamps, so a captured request
cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

DEFAULT_TOLERANCE_S = 300


class InvalidSignature(ValueError):
    """The invocation is not signed with our secret, or is too old to trust."""


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise :class:`InvalidSignature` unless ``headers`` sign ``body`` with ``secret`` recently."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-pipepulse-timestamp", "")
    signature = lowered.get("x-pipepulse-signature", "")
    if not timestamp.isdigit() or not signature:
        raise InvalidSignature("missing x-pipepulse-timestamp or x-pipepulse-signature")
    if abs(now - int(timestamp)) > tolerance_s:
        raise InvalidSignature(f"timestamp is more than {tolerance_s}s away from now")
    if not hmac.compare_digest(expected_signature(secret, timestamp, body), signature):
        raise InvalidSignature("signature does not match")
