"""What the platform Incidents page sums up (SPEC §7.7): the connections firing in open alert
groups, counted by organisation, destination type and error fingerprint. Pure: the page reads
the groups, this module only counts them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# How many firing alerts the page lists one by one; the counts cover all of them.
LISTED_ALERTS = 100


@dataclass(frozen=True)
class Firing:
    """One firing alert of an open group, as the page needs it."""

    organisation_id: int
    group_id: str
    connection_id: str
    connection_name: str
    condition: str
    destination: str  # the connection's type label, e.g. postgres
    fingerprint: str
    reason: str
    started_at: datetime
    silenced: bool


@dataclass(frozen=True)
class Bucket:
    key: str
    connections: int  # distinct connections firing, each counted once however many rules hold it
    groups: int
    example: str = ""  # for a fingerprint: one of its alerts' reasons, so people can read it


@dataclass(frozen=True)
class FleetCounts:
    connections: int
    by_organisation: list[Bucket]
    by_destination: list[Bucket]
    by_fingerprint: list[Bucket]
    alerts: list[Firing]  # one per (organisation, connection, condition), oldest first
    more_alerts: int  # how many of those are not listed


def _buckets(firing: list[Firing], key_of: str) -> list[Bucket]:
    connections: dict[str, set[tuple[int, str]]] = defaultdict(set)
    groups: dict[str, set[str]] = defaultdict(set)
    example: dict[str, str] = {}
    for f in firing:
        key = str(getattr(f, key_of))
        connections[key].add((f.organisation_id, f.connection_id))
        groups[key].add(f.group_id)
        if f.reason and key not in example:
            example[key] = f.reason
    out = [Bucket(k, len(connections[k]), len(groups[k]), example.get(k, "")) for k in connections]
    return sorted(out, key=lambda b: (-b.connections, -b.groups, b.key))


def fleet_counts(alerts: Iterable[Firing]) -> FleetCounts:
    """Counts of distinct firing connections per organisation, destination and fingerprint; the
    firing alerts themselves once per connection and condition (a connection matched by two
    rules is in two groups, but it is one thing on fire)."""
    firing = sorted(alerts, key=lambda f: (f.started_at, f.organisation_id, f.connection_id, f.condition))
    once: dict[tuple[int, str, str], Firing] = {}
    for f in firing:
        once.setdefault((f.organisation_id, f.connection_id, f.condition), f)
    listed = list(once.values())
    return FleetCounts(
        connections=len({(f.organisation_id, f.connection_id) for f in firing}),
        by_organisation=_buckets(firing, "organisation_id"),
        by_destination=_buckets(firing, "destination"),
        by_fingerprint=_buckets(firing, "fingerprint"),
        alerts=listed[:LISTED_ALERTS],
        more_alerts=max(0, len(listed) - LISTED_ALERTS),
    )
