"""Recording runs: seeding, pushing and completing them, each counted exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse import ids
from pipepulse.connections import repository as connections_repository
from pipepulse.db import dialect
from pipepulse.db.models import Run, WarehouseConnection
from pipepulse.db.rows import RunRow
from pipepulse.errors import AppError, Conflict, Invalid, NotFound
from pipepulse.redaction import redact_text
from pipepulse.rollups import set_based
from pipepulse.rollups import writer as rollups
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
from pipepulse.watch.alerts import fingerprints

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


def _check_report(
    connection: WarehouseConnection, report: RunReport, started_at: datetime | None, now: datetime
) -> None:
    if started_at is not None and report.completed_at < started_at:
        raise Invalid(
            f"completed_at ({report.completed_at.isoformat()}) is before the run's started_at "
            f"({started_at.isoformat()})",
            loc=("body", "completed_at"),
        )
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
    stored = stored_values(values)
    if dialect.completes_in_one_statement(dialect.name_of(session)):
        completion = set_based.Completion(0, connection.organisation_id, connection.id, run_id, stored)
        return bool(await set_based.complete(session, [completion]))
    outcome = stored["outcome"]
    started_at = await repository.complete_if_pending(session, connection.id, run_id, stored)
    if started_at is None:
        return False
    run = RunRow(
        connection_id=connection.id,
        id=run_id,
        organisation_id=connection.organisation_id,
        started_at=started_at,
        outcome=outcome,
        **values,
    )
    await rollups.add_completed_run(session, run)
    return True


async def report(
    session: AsyncSession,
    connection: WarehouseConnection,
    run_id: str,
    body: RunReport,
    now: datetime,
) -> None:
    """Complete a run. Identical repeats are no-ops; a different report for a completed run is 409."""
    _check_report(connection, body, None, now)
    values = report_values(body)
    # The happy path is one conditional UPDATE; only when it changes nothing do we read the
    # run to say why (unknown, completed before, or completed_at before started_at).
    for _ in range(2):
        if await _complete(session, connection, run_id, values):
            return
        run = await repository.get(session, connection.id, run_id)
        verdict = why_unchanged(connection, run_id, body, run, now)
        if isinstance(verdict, AppError):
            raise verdict
        if verdict is None:
            return
    raise AssertionError("a pending run that started by completed_at is always completed")


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
            _check_report(connection, body, run.started_at, now)
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
