"""The status of a metrics bucket: SPEC §3's rules with the bucket as the window.

Pure: no I/O, no clock. The bucket's counts (a :class:`~pipepulse.rules.Tally`) and, when the
counts alone cannot tell, whether its newest finished runs failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pipepulse.rules import Status, Tally, is_failing, status


def known_latest_failing(tally: Tally, n: int) -> list[bool] | None:
    """Whether the bucket's latest ``n`` finished runs are failing, when the counts alone tell.

    None means it depends on the order of the runs, so the caller must look at the newest runs.
    """
    if tally.runs == 0:
        return []
    if tally.failing == tally.runs:
        return [True] * min(n, tally.runs)
    if tally.failing < n:
        # Among the latest min(n, runs) runs at least one is not failing.
        return [False]
    return None


def latest_failing(runs: Sequence[tuple[tuple[datetime, datetime, str], str]], n: int) -> list[bool]:
    """From ``((time, started_at, id), outcome)`` pairs: the newest ``n``, failing or not."""
    newest = sorted(runs, key=lambda item: item[0], reverse=True)[:n]
    return [is_failing(outcome) for _, outcome in newest]


def bucket_status(tally: Tally, latest: Sequence[bool]) -> Status:
    """SPEC §3's rules with the bucket as the window (the bucket's latest runs, failures, events)."""
    return status(latest, tally.failing > 0, tally.events_delivered)
