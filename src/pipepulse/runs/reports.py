"""Reports judged one or a thousand at a time, each exactly as ``PATCH …/metrics/{run_id}/`` judges it.

On PostgreSQL the reports that apply are applied together, by one statement
(rollups/set_based.py), and only those that changed nothing are looked at again, two reads
for all of them, to say why: unknown connection or run (404), a rule broken (422), a
different report already stored (409) or the same one repeated (204). Elsewhere each report
goes through the single report's transaction in turn. Either way the verdicts are those the
reports would get sent one by one, in order: a run named twice is applied by its first
report that can be, and the later ones are judged against what that one stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.connections import service as connections_service
from pipepulse.db import dialect
from pipepulse.db.models import Run, WarehouseConnection
from pipepulse.errors import AppError, NotFound
from pipepulse.rollups import set_based
from pipepulse.runs import service
from pipepulse.runs.schemas import RunReport


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


async def apply(session: AsyncSession, reports: Sequence[Report], now: datetime) -> list[Verdict]:
    """Judge and apply the reports; the verdicts are in the reports' order."""
    if dialect.completes_in_one_statement(dialect.name_of(session)):
        return await _set_based(session, reports, now)
    return [await _one(session, report, now) for report in reports]


async def apply_one(session: AsyncSession, report: Report, now: datetime) -> None:
    """The single report: raises the error its verdict carries."""
    verdict = (await apply(session, [report], now))[0]
    if verdict.error is not None:
        raise verdict.error


async def _one(session: AsyncSession, report: Report, now: datetime) -> Verdict:
    try:
        connection = await connections_service.get(session, report.organisation_id, report.connection_id)
        await service.report(session, connection, report.run_id, report.body, now)
    except AppError as exc:
        return Verdict(report.index, exc)
    return Verdict(report.index)


async def _set_based(session: AsyncSession, reports: Sequence[Report], now: datetime) -> list[Verdict]:
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
        for report in waiting:
            (later if report.run_key in seen else now_tried).append(report)
            seen.add(report.run_key)
        completions = [
            set_based.Completion(
                r.index,
                r.organisation_id,
                r.connection_id,
                r.run_id,
                service.stored_values(service.report_values(r.body)),
            )
            for r in now_tried
            if service.in_clock(r.body, now)
        ]
        completed = await set_based.complete(session, completions)
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
    c = WarehouseConnection
    connection_keys = {(r.organisation_id, r.connection_id) for r in reports}
    found = await session.scalars(select(c).where(tuple_(c.organisation_id, c.id).in_(connection_keys)))
    connections = {(conn.organisation_id, conn.id): conn for conn in found}
    run_keys = {(r.connection_id, r.run_id) for r in reports}
    runs = {
        (run.connection_id, run.id): run
        for run in await session.scalars(
            select(Run)
            .where(tuple_(Run.connection_id, Run.id).in_(run_keys))
            .execution_options(populate_existing=True)
        )
    }
    judged, again = [], []
    for report in reports:
        connection = connections.get((report.organisation_id, report.connection_id))
        if connection is None:
            judged.append(Verdict(report.index, NotFound("warehouse connection not found")))
            continue
        run = runs.get((report.connection_id, report.run_id))
        verdict = service.why_unchanged(connection, report.run_id, report.body, run, now)
        if verdict is service.RETRY:
            again.append(report)
        else:
            judged.append(Verdict(report.index, verdict if isinstance(verdict, AppError) else None))
    return judged, again
