"""Verifying that an invocation came from pipepulse's ``http`` dispatcher.

The dispatcher sends ``x-pipepulse-timestamp`` (Unix seconds) and ``x-pipepulse-signature``
(``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body`` under the shared secret). A
loader recomputes it over the raw body and refuses stale timestamps, so a captured request
cannot be replayed later.

Every way a request can fail the check raises :class:`InvalidSignature` (headers that are
missing or malformed raise its subclass :class:`MalformedSignature`), so a receiver that
catches it answers 401 for anything a caller sends, never a 500. An empty secret is a
configuration error (:class:`EmptySigningSecret`): anyone could make a signature with it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

DEFAULT_TOLERANCE_S = 300

# ASCII digits only: str.isdigit() also accepts "²" or "٣", which int() then refuses.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")


class InvalidSignature(Exception):
    """The invocation is not signed with our secret, or is too old to trust."""


class MalformedSignature(InvalidSignature):
    """The signature headers are missing or not in the dispatcher's format."""


class EmptySigningSecret(ValueError):
    """Signing or verifying with an empty secret: a configuration error, never a valid check."""


def _key(secret: str) -> bytes:
    if not secret:
        raise EmptySigningSecret(
            "the signing secret is empty: set PIPEPULSE_LOADER_SIGNING_SECRET (the same on both sides)"
        )
    return secret.encode()


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(_key(secret), timestamp.encode() + b"." + body, hashlib.sha256)
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
    key = _key(secret)
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-pipepulse-timestamp", "")
    signature = lowered.get("x-pipepulse-signature", "")
    if not timestamp or not signature:
        raise MalformedSignature("missing x-pipepulse-timestamp or x-pipepulse-signature")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise MalformedSignature("x-pipepulse-timestamp must be Unix seconds (ASCII digits)")
    if not _SIGNATURE.fullmatch(signature):
        raise MalformedSignature("x-pipepulse-signature must be 'sha256=' and 64 lowercase hex digits")
    if abs(now - int(timestamp)) > tolerance_s:
        raise InvalidSignature(f"timestamp is more than {tolerance_s}s away from now")
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256)
    if not hmac.compare_digest("sha256=" + mac.hexdigest(), signature):
        raise InvalidSignature("signature does not match")
