"""Which due notifications a delivery pass takes (SPEC §7.4 fairness).

Round-robin across (organisation, channel): every channel with something due gets its oldest
notification into the batch before any channel gets its second, and so on. A flood to one
channel (an organisation's 30,000 notifications to a dead URL) then fills only what is left
after every other channel had its turn, so it costs its own organisation, not the others.
Ranked with a window function (both databases have them); the claiming ``UPDATE`` re-checks
that each row is still due, so replicas that picked the same rows claim each once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select

from pipepulse.db.models import Notification


def fair_due(now: datetime, limit: int) -> Select[tuple[str]]:
    n = Notification
    turn = (
        func.row_number()
        .over(partition_by=(n.organisation_id, n.channel_id), order_by=(n.next_attempt_at, n.id))
        .label("turn")
    )
    ranked = (
        select(n.id, n.next_attempt_at, turn).where(n.state == "pending", n.next_attempt_at <= now).subquery()
    )
    return select(ranked.c.id).order_by(ranked.c.turn, ranked.c.next_attempt_at, ranked.c.id).limit(limit)
