"""When a failed notification is tried again (SPEC §7.3), as a pure function.

From one minute after the first failure, doubling, at most an hour apart, for 24 hours from
the moment the notification became due; then it is given up.
"""

from __future__ import annotations

from datetime import datetime, timedelta

FIRST_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=1)
BUDGET = timedelta(hours=24)


def delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (1-based)."""
    if attempts < 1:
        raise ValueError("attempts counts from 1")
    # 2**6 minutes already exceeds the cap; stop doubling there so huge counts stay cheap.
    doubled: timedelta = FIRST_DELAY * (2 ** min(attempts - 1, 6))
    return min(doubled, MAX_DELAY)


def next_attempt(due_at: datetime, attempts: int, failed_at: datetime) -> datetime | None:
    """When to try again after the ``attempts``-th failure at ``failed_at``; None: give up."""
    following = failed_at + delay(attempts)
    return following if following <= due_at + BUDGET else None
