"""Identifiers the service mints."""

from __future__ import annotations

import secrets
from datetime import datetime


def connection_id() -> str:
    return f"wc_{secrets.token_hex(8)}"


def run_id(now: datetime) -> str:
    # Time-ordered, so ids sort roughly as runs were created.
    return f"run_{int(now.timestamp() * 1000):012x}{secrets.token_hex(5)}"
