"""What the dashboard tells a person to do about a status, and what a run's outcome means.

Pure wording keyed by the machine-readable codes (``status.reasons.ReasonCode``, the run
outcomes of ``rules``); nothing here decides a status or an outcome.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final, Literal

from pipepulse.status.reasons import ReasonCode
from pipepulse.wording import describe_duration, plural, span

ErrorClass = Literal["unreachable", "authentication", "permissions", "schema", "quota"]

# What a run's error message says went wrong, first match wins (an unreachable host says
# "connection refused" before anything about tables; "permission denied for table" is about
# permissions, not the table).
ERROR_CLASSES: Final[tuple[tuple[ErrorClass, re.Pattern[str]], ...]] = (
    (
        "unreachable",
        re.compile(
            r"unreachable|connection refused|could not connect|timed? ?out|no route to host"
            r"|name or service not known|could not translate host|network is unreachable|connection reset",
            re.I,
        ),
    ),
    (
        "authentication",
        re.compile(
            r"authenticat|password|credential|unauthori[sz]ed|\b401\b"
            r"|invalid (api )?(key|token)|login failed",
            re.I,
        ),
    ),
    (
        "permissions",
        re.compile(r"permission|access denied|forbidden|\b403\b|not authori[sz]ed|privilege", re.I),
    ),
    (
        "quota",
        re.compile(r"quota|rate limit|too many requests|\b429\b|limit exceeded|disk full|no space", re.I),
    ),
    (
        "schema",
        re.compile(
            r"schema|column|table|relation .* does not exist|does not exist|type mismatch|cannot cast", re.I
        ),
    ),
)

# The next step for each class of error: what to fix, where.
FIXES: Final[dict[ErrorClass, str]] = {
    "unreachable": (
        "The warehouse cannot be reached: check its host and port, that it is running, and that the "
        "loader's network (firewall, allow-list, VPN) lets it through."
    ),
    "authentication": (
        "The warehouse refused the loader's credentials: renew the password or key in the "
        "connection's configuration."
    ),
    "permissions": (
        "The loader's warehouse user lacks a permission: grant it (usage on the schema, insert on "
        "the tables) in the warehouse."
    ),
    "schema": (
        "The warehouse's tables do not match what the loader writes: create or migrate the table, "
        "or fix the column types."
    ),
    "quota": "The warehouse hit a quota or rate limit: raise the limit, or spread the loads out.",
}

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


def error_class(message: str | None) -> ErrorClass | None:
    """unreachable, authentication, permissions, schema or quota; None when the message says
    none of them (a dead-lettered batch, an orphaned run, an unknown error)."""
    if not message:
        return None
    for name, pattern in ERROR_CLASSES:
        if pattern.search(message):
            return name
    return None


def hint(
    code: ReasonCode,
    *,
    late_by_seconds: int = 0,
    sla_seconds: int = 0,
    volume_verdict: str | None = None,
    latest_error: str | None = None,
) -> str:
    """The next step for a status, reading the freshness and volume verdicts and, for a
    failing connection, the class of its latest error."""
    late = late_by_seconds > 0
    volume = volume_verdict in ("drop", "spike")
    if code == "delivering" and (late or volume):
        parts = ["Runs succeed, but"]
        if late:
            parts.append(
                f"nothing was delivered for longer than the SLA of {span(sla_seconds)} (late by "
                f"{span(late_by_seconds)}): check that the loader runs on schedule and the source "
                "sends events"
            )
        if volume:
            if late:
                parts.append("and")
            few = "far fewer" if volume_verdict == "drop" else "far more"
            parts.append(
                f"the last hour delivered {few} events than the same hour usually does: check the "
                "source (a stopped or duplicated producer) before the numbers downstream go wrong"
            )
        return " ".join(parts) + "."
    text = HINTS[code]
    if code in ("latest_runs_failing", "failing_runs_24h"):
        kind = error_class(latest_error)
        if kind is not None:
            text = f"{FIXES[kind]} The status clears once the failing runs are out of the last 24 hours."
            if code == "latest_runs_failing":
                text = f"{FIXES[kind]} The status clears once a run succeeds."
    if code != "delivering" and late:
        text += f" No delivery for {span(late_by_seconds)} past its SLA of {span(sla_seconds)}."
    return text


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
