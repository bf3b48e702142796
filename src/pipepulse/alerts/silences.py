"""Silences (SPEC §7.4) as pure rules: a silence's state at an instant, and which silences hold
an alert back. A silence covers ``[starts_at, ends_at)``; expiring one (``DELETE``) moves its
``ends_at`` to now."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pipepulse.alerts import matchers as matchers_rules

State = Literal["pending", "active", "expired"]


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime


def state(silence: Silence, now: datetime) -> State:
    if now < silence.starts_at:
        return "pending"
    if now < silence.ends_at:
        return "active"
    return "expired"


def silencing(silences: Iterable[Any], labels: Mapping[str, str], now: datetime) -> list[str]:
    """Ids of the active silences whose every matcher matches ``labels``.

    Accepts :class:`Silence` and anything with the same attributes.
    """
    return [
        s.id
        for s in silences
        if s.starts_at <= now < s.ends_at and matchers_rules.matches(dict(s.matchers), labels)
    ]


def next_boundary(silences: Iterable[Any], labels: Mapping[str, str], now: datetime) -> datetime | None:
    """The next instant after ``now`` at which a silence matching ``labels`` begins or ends:
    when whether the alert is silenced can next change by the clock alone. None: never."""
    ahead = [
        s.starts_at if now < s.starts_at else s.ends_at
        for s in silences
        if now < s.ends_at and matchers_rules.matches(dict(s.matchers), labels)
    ]
    return min(ahead, default=None)
