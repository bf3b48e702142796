"""Recording runs: seeding, pushing and completing them, each counted exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import ids
from pipepulse.alerts import fingerprints
from pipepulse.connections import repository as connections_repository
from pipepulse.db.models import Run, WarehouseConnection
from pipepulse.errors import AppError, Conflict, Invalid, NotFound
from pipepulse.redaction import redact_text
from pipepulse.rollups.set_based import Completion
from pipepulse.rules import (
    Thresholds,
    completed_outcome,
    error_message,
    finished_time,
    orphaned_before,
    run_outcome,
)
from pipepulse.runs import repository
from pipepulse.runs.schemas import COMPLETION_FIELDS, MAX_ERROR_LENGTH, RunCreate, RunOut, RunReport

# A loader's clock may run a little ahead of ours; more than this is a bug to report.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def _normalise_error(error: str | None) -> str | None:
    if error is None or not error.strip():
        return None
    # Every reader of the organisation sees the error: a URL in it loses its credentials.
    return redact_text(error)[:MAX_ERROR_LENGTH]


def report_values(report: RunReport) -> dict[str, Any]:
    """The stored form of a report: what an identical repeat must match."""
    return {
        "completed_at": report.completed_at,
        "events_delivered": report.events_delivered,
        "batches_dlq": report.batches_dlq,
        "error": _normalise_error(report.error),
        "events_by_type": dict(report.events_by_type) if report.events_by_type is not None else None,
        "latency_ms": report.latency_ms,
        "events_pending": report.events_pending,
        "bytes_delivered": report.bytes_delivered,
    }


def stored_report(run: Run) -> dict[str, Any]:
    return {field: getattr(run, field) for field in COMPLETION_FIELDS}


def _check_started(report: RunReport, started_at: datetime) -> None:
    if report.completed_at < started_at:
        raise Invalid(
            f"completed_at ({report.completed_at.isoformat()}) is before the run's started_at "
            f"({started_at.isoformat()})",
            loc=("body", "completed_at"),
        )


def _check_report(
    connection: WarehouseConnection, report: RunReport, started_at: datetime | None, now: datetime
) -> None:
    if started_at is not None:
        _check_started(report, started_at)
    _check_not_future(report.completed_at, now, "completed_at")
    if report.events_by_type:
        unknown = sorted(set(report.events_by_type) - set(connection.event_types))
        if unknown:
            raise Invalid(
                f"unknown event type(s) {unknown}: this connection's event_types are "
                f"{connection.event_types}",
                loc=("body", "events_by_type"),
            )


def in_clock(report: RunReport, now: datetime) -> bool:
    """Whether ``completed_at`` is not too far ahead of our clock to be applied."""
    return report.completed_at <= now + MAX_CLOCK_SKEW


def _check_not_future(value: datetime, now: datetime, field: str) -> None:
    if value > now + MAX_CLOCK_SKEW:
        raise Invalid(
            f"{field} ({value.isoformat()}) is more than 5 minutes in the future "
            f"(server time {now.isoformat()}); check the loader's clock",
            loc=("body", field),
        )


def stored_values(values: dict[str, Any]) -> dict[str, Any]:
    """A report's values as a completed run stores them: with its outcome."""
    return {**values, "outcome": completed_outcome(values["error"], values["batches_dlq"])}


async def _complete(
    session: AsyncSession, connection: WarehouseConnection, run_id: str, values: dict[str, Any]
) -> bool:
    """Complete a pending run and add it to the rollups, in this transaction; False if not done."""
    completion = Completion(0, connection.organisation_id, connection.id, run_id, stored_values(values))
    return bool(await repository.complete(session, [completion]))


@dataclass(frozen=True)
class Report:
    """One report: the run it names and its body, at its place in the request."""

    index: int
    organisation_id: int
    connection_id: str
    run_id: str
    body: RunReport

    @property
    def run_key(self) -> tuple[int, str, str]:
        return self.organisation_id, self.connection_id, self.run_id


@dataclass(slots=True)
class Verdict:
    """What the single call would have answered: 204 (``error`` None), or the error."""

    index: int
    error: AppError | None = None


async def report(session: AsyncSession, one: Report, now: datetime) -> None:
    """Complete one run (``PATCH …/metrics/{run_id}/``, the local loader, a lineage event):
    raises the error its verdict carries. Identical repeats are no-ops; a different report
    for a completed run is 409."""
    verdict = (await report_all(session, [one], now))[0]
    if verdict.error is not None:
        raise verdict.error


async def report_all(session: AsyncSession, reports: Sequence[Report], now: datetime) -> list[Verdict]:
    """Judge and apply reports, one or a thousand; the verdicts are in the reports' order.

    The reports that apply are applied together (``repository.complete``), and only those
    that changed nothing are looked at again, two reads for all of them, to say why: unknown
    connection or run (404), a rule broken (422), a different report already stored (409) or
    the same one repeated (204). The verdicts are those the reports would get sent one by one,
    in order: a run named twice is applied by its first report that can be, and the later
    ones are judged against what that one stored.
    """
    verdicts: dict[int, Verdict] = {}
    waiting = list(reports)
    # Each round applies the first report of every run still waiting; a run named again
    # waits for the next round. A round ends with every report it tried judged, except one
    # whose run a concurrent writer held and then released unchanged (tried again).
    for _ in range(len(reports) + 2):
        if not waiting:
            return [verdicts[r.index] for r in reports]
        seen: set[tuple[int, str, str]] = set()
        now_tried: list[Report] = []
        later: list[Report] = []
        for one in waiting:
            (later if one.run_key in seen else now_tried).append(one)
            seen.add(one.run_key)
        completions = [
            Completion(
                r.index,
                r.organisation_id,
                r.connection_id,
                r.run_id,
                stored_values(report_values(r.body)),
            )
            for r in now_tried
            if in_clock(r.body, now)
        ]
        completed = await repository.complete(session, completions)
        verdicts.update((i, Verdict(i)) for i in completed)
        unchanged = [r for r in now_tried if r.index not in completed]
        judged, again = await _explain(session, unchanged, now)
        verdicts.update((v.index, v) for v in judged)
        waiting = again + later
    raise AssertionError("a pending run that started by completed_at is always completed")


async def _explain(
    session: AsyncSession, reports: Sequence[Report], now: datetime
) -> tuple[list[Verdict], list[Report]]:
    """Verdicts of reports that completed nothing, and those to try again."""
    if not reports:
        return [], []
    connections = await repository.connections_by_key(
        session, {(r.organisation_id, r.connection_id) for r in reports}
    )
    runs = await repository.runs_by_key(session, {(r.connection_id, r.run_id) for r in reports})
    judged, again = [], []
    for one in reports:
        connection = connections.get((one.organisation_id, one.connection_id))
        if connection is None:
            judged.append(Verdict(one.index, NotFound("warehouse connection not found")))
            continue
        run = runs.get((one.connection_id, one.run_id))
        verdict = why_unchanged(connection, one.run_id, one.body, run, now)
        if verdict is RETRY:
            again.append(one)
        else:
            judged.append(Verdict(one.index, verdict if isinstance(verdict, AppError) else None))
    return judged, again


class _Retry:
    """The run was pending after all: a writer that held it rolled back. Try again."""


RETRY = _Retry()


def why_unchanged(
    connection: WarehouseConnection, run_id: str, body: RunReport, run: Run | None, now: datetime
) -> AppError | _Retry | None:
    """Why a report that completed nothing was refused, given the run as it now stands.

    None: it repeats the stored report (204). The checks that need no run (the connection's
    event types, the clock) come first, as for a report that is then applied.
    """
    try:
        _check_report(connection, body, None, now)
    except Invalid as exc:
        return exc
    if run is None:
        return NotFound(f"run {run_id!r} not found for this connection")
    if run.completed_at is None:
        try:
            _check_started(body, run.started_at)
        except Invalid as exc:
            return exc
        return RETRY
    if stored_report(run) != report_values(body):
        return Conflict(
            f"run {run_id!r} was already completed with a different report; "
            "reports are immutable (repeat the identical report, or create a new run)"
        )
    return None


async def create(
    session: AsyncSession, connection: WarehouseConnection, body: RunCreate, now: datetime
) -> tuple[Run, bool]:
    """Seed or push a run; returns (run, created). A repeat with the same body is not a create."""
    _check_not_future(body.started_at, now, "started_at")
    report_body = body.report()
    if report_body is not None:
        _check_report(connection, report_body, body.started_at, now)
    run_id = body.run_id or ids.run_id(now)
    created = await repository.insert_if_absent(
        session,
        {
            "connection_id": connection.id,
            "id": run_id,
            "organisation_id": connection.organisation_id,
            "started_at": body.started_at,
            "outcome": "pending",
            "events_delivered": 0,
            "batches_dlq": 0,
            "created_at": now,
        },
    )
    if created:
        # A run the loader created itself is the connection's latest run for scheduling too.
        await connections_repository.push_back_next_run(
            session, connection.id, body.started_at, connection.schedule_interval_seconds
        )
        if report_body is not None:
            await _complete(session, connection, run_id, report_values(report_body))
    run = await repository.get(session, connection.id, run_id)
    assert run is not None
    if created:
        return run, True
    if run.started_at != body.started_at:
        raise Conflict(
            f"run {run_id!r} already exists with started_at {run.started_at.isoformat()}; "
            "use a new run_id for a new run"
        )
    if report_body is not None:
        if run.completed_at is None:
            raise Conflict(
                f"run {run_id!r} already exists and is still pending; complete it with "
                "PATCH …/metrics/{run_id}/"
            )
        if stored_report(run) != report_values(report_body):
            raise Conflict(f"run {run_id!r} already exists with a different report")
    return run, created


async def get(
    session: AsyncSession,
    connection: WarehouseConnection,
    run_id: str,
    *,
    now: datetime | None = None,
    retention: timedelta | None = None,
) -> Run:
    run = await repository.get(session, connection.id, run_id)
    if run is None:
        made = ids.run_id_time(run_id)
        if now is not None and retention is not None and made is not None and made < now - retention:
            # Minted ids carry their creation time, so a deleted run can be told from a typo.
            raise NotFound(
                f"run {run_id!r} was made on {made.date().isoformat()}, more than "
                f"PIPEPULSE_RUN_RETENTION_DAYS={retention.days} days ago: raw runs past retention are "
                "deleted (their counts remain in the rollups)"
            )
        raise NotFound(f"run {run_id!r} not found for this connection")
    return run


async def list_page(
    session: AsyncSession,
    connection: WarehouseConnection,
    *,
    offset: int,
    limit: int,
    outcome: str | None,
    now: datetime,
    thresholds: Thresholds,
) -> tuple[Sequence[Run], int]:
    where = []
    if outcome is not None:
        where.append(repository.outcome_filter(outcome, orphaned_before(now, thresholds.orphan_window)))
    return await repository.page(session, connection.id, offset=offset, limit=limit, where=where)


def to_out(run: Run, now: datetime, thresholds: Thresholds) -> RunOut:
    window = thresholds.orphan_window
    outcome = run_outcome(
        started_at=run.started_at,
        completed_at=run.completed_at,
        error=run.error,
        batches_dlq=run.batches_dlq,
        now=now,
        orphan_window=window,
    )
    finished = None if outcome == "pending" else finished_time(run.started_at, run.completed_at, window)
    duration = int((run.completed_at - run.started_at).total_seconds() * 1000) if run.completed_at else None
    fingerprint = fingerprints.of_run(outcome, run.error)
    return RunOut(
        id=run.id,
        connection_id=run.connection_id,
        organisation_id=run.organisation_id,
        outcome=outcome,
        started_at=run.started_at,
        completed_at=run.completed_at,
        finished_at=finished,
        duration_ms=duration,
        events_delivered=run.events_delivered,
        events_by_type=run.events_by_type,
        batches_dlq=run.batches_dlq,
        error=run.error,
        message=error_message(outcome, run.error, run.batches_dlq, window),
        error_fingerprint=fingerprint[0] if fingerprint else None,
        error_template=fingerprint[1] if fingerprint else None,
        latency_ms=run.latency_ms,
        events_pending=run.events_pending,
        bytes_delivered=run.bytes_delivered,
    )


async def fail_pending(
    session: AsyncSession, connection_id: str, run_id: str, reason: str, now: datetime
) -> bool:
    """Mark a run failed at once (e.g. its loader could not be invoked). False if it was no longer pending."""
    connection = await session.get(WarehouseConnection, connection_id)
    run = await repository.get(session, connection_id, run_id)
    if connection is None or run is None or run.completed_at is not None:
        return False
    values = report_values(RunReport(completed_at=max(now, run.started_at), error=reason))
    return await _complete(session, connection, run_id, values)


def _where(failing_only: bool, now: datetime, thresholds: Thresholds) -> list[ColumnElement[bool]]:
    if not failing_only:
        return []
    return [repository.failing_filter(orphaned_before(now, thresholds.orphan_window))]


async def keyset_page(
    session: AsyncSession,
    connection: WarehouseConnection,
    *,
    key: tuple[datetime, str] | None,
    direction: str,
    limit: int,
    failing_only: bool,
    now: datetime,
    thresholds: Thresholds,
) -> Sequence[Run]:
    """Runs newest first from a (started_at, id) key (see ``repository.keyset``); with
    ``failing_only`` only the partial, failed and orphaned ones."""
    return await repository.keyset(
        session,
        connection.id,
        key=key,
        direction=direction,
        limit=limit,
        where=_where(failing_only, now, thresholds),
    )


async def count(
    session: AsyncSession,
    connection: WarehouseConnection,
    *,
    failing_only: bool,
    now: datetime,
    thresholds: Thresholds,
) -> int:
    return await repository.count(session, connection.id, _where(failing_only, now, thresholds))
