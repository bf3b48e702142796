"""What the dashboard tells a person to do about a status, and what a run's outcome means.

Pure wording keyed by the machine-readable codes (``status.reasons.ReasonCode``, the run
outcomes of ``rules``); nothing here decides a status or an outcome.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from pipepulse.rules import describe_duration
from pipepulse.status.reasons import ReasonCode, plural

# One short next step per reason code (SPEC §7.1), shown under the status on the banner.
HINTS: Final[dict[ReasonCode, str]] = {
    "latest_runs_failing": (
        "Open the latest failing run for its full error and fix the cause in the loader or the "
        "warehouse (credentials, permissions, capacity). The status clears once a run succeeds."
    ),
    "failing_runs_24h": (
        "Some runs fail while others succeed. Read the failing runs below; if the same error keeps "
        "coming back, fix it before it takes the latest runs with it."
    ),
    "delivering": "Nothing to do: events are arriving and no run failed in the last 24 hours.",
    "no_events_24h": (
        "Check that the source is sending events and that the loader runs on schedule; runs are "
        "scheduled only while the connection state is Connected or Error."
    ),
    "no_runs_yet": (
        "Wait for the first scheduled run, or start the loader. A new connection is scheduled once "
        "its state is Connected."
    ),
    "paused": "Set the connection state back to Connected to schedule runs again.",
}


def hint(code: ReasonCode) -> str:
    return HINTS[code]


def outcome_explanation(
    outcome: str, batches_dlq: int, started_at: datetime, orphan_window: timedelta
) -> str:
    """What a run's outcome means, and how it counts (SPEC §1 and §3)."""
    window = describe_duration(orphan_window)
    if outcome == "succeeded":
        return "Completed with no error and no batch moved to the dead-letter queue."
    if outcome == "partial":
        return (
            f"Completed without an error, but {plural(batches_dlq, 'batch', 'batches')} moved to the "
            "dead-letter queue: the events in them were not "
            f"delivered. It counts as a failing run, and each of those batches as a failed delivery."
        )
    if outcome == "failed":
        return "Completed with an error. It counts as a failing run and as one failed delivery."
    if outcome == "orphaned":
        return (
            f"Started but did not report back within {window}, so the loader probably crashed or lost "
            "its connection. It counts as a failing run and as one failed delivery from the end of "
            "that window; a report that arrives later still completes it."
        )
    deadline = started_at + orphan_window
    return (
        f"Started and not reported yet. Without a report by {deadline.strftime('%Y-%m-%d %H:%M:%S')} UTC "
        f"({window} after it started) it becomes orphaned."
    )
