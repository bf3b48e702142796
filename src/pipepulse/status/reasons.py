"""Why a connection has its status (SPEC §7.1 reason codes), worded once for every reader.

Pure: imports only :mod:`pipepulse.rules` and :mod:`pipepulse.wording`. The API (status
history, connection health), the dashboard's banner and cards, and alert notifications all
word a status with :func:`status_reason`, from the inputs the §3 rule was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

from pipepulse.rules import Status
from pipepulse.wording import plural

ReasonCode = Literal[
    "latest_runs_failing", "failing_runs_24h", "delivering", "no_events_24h", "no_runs_yet", "paused"
]
REASON_CODES: tuple[ReasonCode, ...] = (
    "latest_runs_failing",
    "failing_runs_24h",
    "delivering",
    "no_events_24h",
    "no_runs_yet",
    "paused",
)


class BasisLike(Protocol):
    """The inputs of the §3 status rule at one instant (``telemetry.service.StatusBasis`` is one)."""

    @property
    def latest_finished_failing(self) -> tuple[bool, ...]: ...

    @property
    def finished_runs_last_24h(self) -> int: ...

    @property
    def failing_runs_last_24h(self) -> int: ...

    @property
    def events_last_24h(self) -> int: ...


@dataclass(frozen=True)
class Reason:
    """A status's reason: a stable code for machines, a sentence for people, and the runs it
    rests on (newest first; only for the two failing codes)."""

    code: ReasonCode
    text: str
    runs: tuple[str, ...] | None = None


def exact(value: datetime) -> str:
    """An instant in UTC, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: datetime, now: datetime) -> str:
    """'just now', '5 minutes ago', '3 hours ago', '2 days ago' (or 'in …' for a skewed clock)."""
    seconds = int((now - value).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    for size, unit in (
        (86400 * 365, "year"),
        (86400 * 30, "month"),
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
    ):
        if seconds >= size:
            n = round(seconds / size) if size == 60 else seconds // size
            text = f"{n} {unit}" + ("" if n == 1 else "s")
            return f"in {text}" if future else f"{text} ago"
    return "just now"


def status_reason(
    status: Status,
    basis: BasisLike,
    *,
    last_delivery_at: datetime | None,
    any_finished: bool,
    now: datetime | None = None,
    runs: Sequence[str] | None = None,
) -> Reason:
    """Why ``status`` holds, worded from the rule's inputs at one instant.

    ``last_delivery_at`` and ``any_finished`` describe the history up to that instant.
    ``now`` is given when the reason is about the present (a relative "3 days ago" then reads
    right); a reason in the history says the exact time instead. ``runs`` are the ids of the
    failing runs the reason rests on, newest first.
    """
    latest = basis.latest_finished_failing
    finished = basis.finished_runs_last_24h
    failing_runs = tuple(runs) if runs is not None else None
    if status == "error":
        if len(latest) == 1:
            text = "The only run that finished in the last 24 hours was failing."
        elif finished <= len(latest):
            text = f"All {len(latest)} runs that finished in the last 24 hours were failing."
        else:
            text = f"The last {len(latest)} finished runs were all failing."
        return Reason("latest_runs_failing", text, failing_runs)
    if status == "degraded":
        failing = plural(basis.failing_runs_last_24h, "run")
        head = f"{failing} of {finished:,} that finished in the last 24 hours"
        head += " was failing" if basis.failing_runs_last_24h == 1 else " were failing"
        if latest and not latest[0]:
            text = f"{head}; the latest run succeeded, so it is catching up."
        else:
            # Not error, so some of the latest runs succeeded: say so plainly.
            succeeded = sum(1 for failing in latest if not failing)
            text = f"{head}; the latest run failed, but {succeeded:,} of the last {len(latest)} succeeded."
        return Reason("failing_runs_24h", text, failing_runs)
    if status == "active":
        events, by = plural(basis.events_last_24h, "event"), plural(finished, "run")
        return Reason("delivering", f"{events} delivered in the last 24 hours by {by}, none failing.")
    if finished:
        runs_word = plural(finished, "run")
        text = f"{runs_word} finished in the last 24 hours without failing, but delivered no events."
        return Reason("no_events_24h", text)
    if not any_finished:
        return Reason("no_runs_yet", "Nothing delivered yet: no run has finished.")
    if last_delivery_at is None:
        return Reason("no_events_24h", "Nothing delivered yet: no run has finished with events.")
    when = ago(last_delivery_at, now) if now is not None else f"at {exact(last_delivery_at)}"
    return Reason("no_events_24h", f"No run finished in the last 24 hours; the last delivery was {when}.")


def paused(reason: Reason) -> Reason:
    """The reason of a paused connection: its status still follows §3, but nothing runs."""
    return replace(reason, code="paused", text=f"Paused: no runs are scheduled. {reason.text}")
