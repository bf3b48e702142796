"""Identifiers the service mints."""

from __future__ import annotations

import secrets
from datetime import datetime


def connection_id() -> str:
    return f"wc_{secrets.token_hex(8)}"


def run_id(now: datetime) -> str:
    # Time-ordered, so ids sort roughly as runs were created.
    return f"run_{int(now.timestamp() * 1000):012x}{secrets.token_hex(5)}"


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
    return f"whsec_{secrets.token_urlsafe(32)}"
