"""SQL for the organisation page's sparklines: one read of the hourly rollups for every card."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.models import RunHourlyRollup


async def events_per_hour(
    session: AsyncSession, organisation_id: int, connection_ids: Sequence[str], first_hour: datetime
) -> dict[str, dict[datetime, int]]:
    """Events delivered per connection and hour, for hours from ``first_hour`` on."""
    if not connection_ids:
        return {}
    r = RunHourlyRollup
    rows = await session.execute(
        select(r.connection_id, r.hour, r.events_delivered).where(
            r.organisation_id == organisation_id,
            r.connection_id.in_(connection_ids),
            r.hour >= first_hour,
        )
    )
    out: dict[str, dict[datetime, int]] = defaultdict(dict)
    for connection_id, hour, events in rows:
        out[connection_id][hour] = int(events)
    return out
