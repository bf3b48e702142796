"""Bulk ``latest`` over the default 24 hours from the stored answers where they still hold.

Bulk ``GET …/telemetry/metrics/`` and the Prometheus exposition ask for every connection's
metric values at ``now`` over ``[now - 24h, now)``. Like the telemetry answer (see
pipepulse.snapshots), those values change only when a run is written or when ``now`` crosses
a run's time or the instant 24 hours after it; so each connection's values are stored with
that horizon and the version of its runs. A read takes the fresh ones in one statement and
computes (in bulk, through the status engine as before) and stores only the stale ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.connections.repository import ConnectionRef
from pipepulse.db.session import Database
from pipepulse.metrics import service as metrics
from pipepulse.metrics.service import MetricsQuery
from pipepulse.metrics.values import MetricValues
from pipepulse.rules import DAY, Thresholds
from pipepulse.snapshots import horizon, repository
from pipepulse.snapshots.repository import LatestAnswer, StoredLatest


def is_default(query: MetricsQuery, now: datetime) -> bool:
    """Whether the query is ``latest`` over the 24 hours up to ``now``: the one range stored."""
    return query.time_type == "latest" and query.timestamp_to == now and query.timestamp_from == now - DAY


def encode(values: MetricValues) -> str:
    """The values as JSON; the one timestamp as ISO 8601 so :func:`decode` gives it back."""
    delivered = values["last_delivery_at"]
    return json.dumps({**values, "last_delivery_at": delivered.isoformat() if delivered else None})


def decode(body: str) -> MetricValues:
    raw: dict[str, Any] = json.loads(body)
    delivered = raw["last_delivery_at"]
    raw["last_delivery_at"] = datetime.fromisoformat(delivered) if delivered is not None else None
    return cast(MetricValues, raw)


def _holds(stored: StoredLatest | None, basis: str, now: datetime) -> bool:
    return (
        stored is not None
        and stored.body is not None
        and stored.answered_version == stored.inputs_version
        and stored.basis == basis
        and horizon.holds(stored.valid_from, stored.valid_until, now)
    )


async def latest_values(
    session: AsyncSession,
    database: Database,
    connections: Sequence[ConnectionRef],
    query: MetricsQuery,
    now: datetime,
    thresholds: Thresholds,
) -> dict[str, MetricValues]:
    """The same values as :func:`metrics.latest_values`; stored ones where they hold.

    Ends the session's transaction when it stores (see pipepulse.telemetry.stored): the
    session may be used again afterwards, in a new one.
    """
    if not is_default(query, now):
        return await metrics.latest_values(session, connections, query, now, thresholds)
    metrics.check_kept(query, now, thresholds)
    # The versions are read before anything is computed, so an answer stored under one of
    # them is at least as new as it.
    stored = await repository.stored_latest(session, [c.id for c in connections])
    out: dict[str, MetricValues] = {}
    stale: list[tuple[ConnectionRef, str]] = []
    for ref in connections:
        basis = horizon.basis(thresholds, ref.event_types)
        found = stored.get(ref.id)
        if found is not None and found.body is not None and _holds(found, basis, now):
            out[ref.id] = decode(found.body)
        else:
            stale.append((ref, basis))
    if not stale:
        return out
    refs = [ref for ref, _ in stale]
    computed = await metrics.latest_values(session, refs, query, now, thresholds)
    first = await repository.day_first_after(session, [ref.id for ref in refs], now, thresholds.orphan_window)
    answers = []
    for ref, basis in stale:
        found = stored.get(ref.id)
        answers.append(
            LatestAnswer(
                connection_id=ref.id,
                organisation_id=ref.organisation_id,
                inputs_version=found.inputs_version if found is not None else 0,
                basis=basis,
                valid_from=now,
                valid_until=horizon.next_day_change(first[ref.id], now, thresholds),
                body=encode(computed[ref.id]),
            )
        )
        out[ref.id] = computed[ref.id]
    # The read is over: give its connection back before the store takes one.
    await session.commit()
    await repository.store_latest(database, answers)
    return out
