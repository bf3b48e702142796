"""Identifiers the service mints."""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime


def connection_id() -> str:
    return f"wc_{secrets.token_hex(8)}"


def run_id(now: datetime) -> str:
    # Time-ordered, so ids sort roughly as runs were created.
    return f"run_{int(now.timestamp() * 1000):012x}{secrets.token_hex(5)}"


_RUN_ID = re.compile(r"run_([0-9a-f]{12})[0-9a-f]{10}")


def run_id_time(run_id: str) -> datetime | None:
    """When a run id minted by :func:`run_id` was made; None for ids chosen by a loader."""
    match = _RUN_ID.fullmatch(run_id)
    if match is None:
        return None
    try:
        return datetime.fromtimestamp(int(match.group(1), 16) / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def alert_channel_id() -> str:
    return f"ach_{secrets.token_hex(8)}"


def alert_rule_id() -> str:
    return f"arl_{secrets.token_hex(8)}"


def alert_event_id(now: datetime) -> str:
    return f"evt_{int(now.timestamp() * 1000):012x}{secrets.token_hex(6)}"


def notification_id(now: datetime) -> str:
    # Time-ordered like run ids: the delivery log reads newest first by id as well.
    return f"ntf_{int(now.timestamp() * 1000):012x}{secrets.token_hex(6)}"


def signing_secret() -> str:
    # Standard Webhooks (SPEC §7.5): "whsec_" and the key's standard base64.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
