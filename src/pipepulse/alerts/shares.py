"""How scheduler replicas divide the evaluation (SPEC §7.3) between them: the rules.

The connections fall into :data:`PARTITIONS` partitions by a hash of their id. Each partition
is evaluated by the one replica holding its lease (``shares_store``), renewed every alert pass;
a replica holds at most its fair share — the partitions divided by the live replicas, rounded
up — so a replica that joins gets partitions the others give up, and one that stops (its lease
runs out) has its partitions taken by the others. A partition stays with its holder while it
renews it (sticky), so a replica's tracker keeps what it learnt of its connections.

The partition is a hash of the connection id, not of its organisation, so one large tenant is
spread over every replica too. Alert groups (SPEC §7.4) may then gather connections evaluated
by different replicas: a group is opened under a database lock (``groups``), and its
notifications are queued by compare-and-set, so each group is still opened and told once.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

# Enough that two or three replicas get shares within a few percent of each other, few enough
# that claiming them is a handful of small rows.
PARTITIONS = 32


def partition_of(connection_id: str, partitions: int = PARTITIONS) -> int:
    """The partition of a connection: the same in every process (CRC-32 of its id)."""
    return zlib.crc32(connection_id.encode()) % partitions


def fair_share(replicas: int, partitions: int = PARTITIONS) -> int:
    """The most partitions one of ``replicas`` live replicas holds: together they cover every
    partition, and none holds more than one above another's share."""
    return math.ceil(partitions / max(1, replicas))


@dataclass(frozen=True)
class Plan:
    """What a replica does with the partitions at one pass."""

    keep: frozenset[int]  # held, renewed
    release: frozenset[int]  # held beyond its fair share, given up for a newer replica
    wanted: int  # how many free (never held or expired) partitions it may take


def plan(held: Iterable[int], replicas: int, partitions: int = PARTITIONS) -> Plan:
    """Keep the lowest held partitions up to the fair share, release the rest, and ask for as
    many free ones as are missing from it."""
    share = fair_share(replicas, partitions)
    mine = sorted(set(held))
    return Plan(frozenset(mine[:share]), frozenset(mine[share:]), max(0, share - len(mine)))


@dataclass(frozen=True)
class Share:
    """The partitions one replica evaluates in this pass, and those it has just taken (what it
    remembers of their connections came from before another replica evaluated them)."""

    held: frozenset[int]
    taken: frozenset[int]
    partitions: int = PARTITIONS

    def holds(self, connection_id: str) -> bool:
        return partition_of(connection_id, self.partitions) in self.held

    def taken_over(self, connection_id: str) -> bool:
        return partition_of(connection_id, self.partitions) in self.taken
