"""The ``local`` dispatcher: the reference loader run inside the scheduler's own process.

It joins three rooms that otherwise never meet: the scheduler (which seeds the runs), the
reference loader (which loads them) and the report path (``runs.service.report``, which
records each report as a PATCH would). It lives at the top, beside ``cli.py`` and ``demo.py``,
so that the scheduler imports only the wire contract and never the loader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from pipepulse.config import Settings
from pipepulse.db.models import WarehouseConnection
from pipepulse.db.session import Database
from pipepulse.loader.config import LoaderConfig
from pipepulse.loader.runner import load_run
from pipepulse.runs import service as runs_service
from pipepulse.runs.schemas import RunReport
from pipepulse.scheduler import dispatchers
from pipepulse.scheduler.dispatchers import Dispatcher
from pipepulse.scheduler.jobs import SeededRun
from pipepulse.wire.invocation import LoaderJob

log = logging.getLogger(__name__)


class LocalDispatcher:
    """Runs the reference loader in this process (the embedded default) and records its report."""

    def __init__(self, db: Database, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(4)

    async def dispatch(self, run: SeededRun) -> None:
        task = asyncio.create_task(self._load(run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(self, run: SeededRun) -> None:
        async with self._limit:
            try:
                async with self.db.session() as session:
                    connection = await session.get(WarehouseConnection, run.connection_id)
                    connection_config = dict(connection.config) if connection else {}
                config = LoaderConfig(
                    source_root=self.settings.loader_source_root or self.settings.data_dir / "source",
                    destination_url=self.settings.loader_destination
                    or f"duckdb:///{self.settings.data_dir / 'warehouse.duckdb'}",
                ).with_connection_config(connection_config)
                job = LoaderJob(run.run_id, run.connection_id, run.organisation_id)
                report = await asyncio.to_thread(load_run, job, config, now=self.clock)
                body = RunReport(
                    completed_at=report.completed_at,
                    events_delivered=report.events_delivered,
                    batches_dlq=report.batches_dlq,
                    error=report.error,
                    events_by_type=_configured_types(report.events_by_type, connection),
                    latency_ms=report.latency_ms,
                    events_pending=report.events_pending,
                    bytes_delivered=report.bytes_delivered,
                )
                async with self.db.session(write=True) as session:
                    if connection is None:
                        return
                    one = runs_service.Report(0, connection.organisation_id, connection.id, run.run_id, body)
                    await runs_service.report(session, one, self.clock())
            except Exception as exc:
                log.warning(
                    "local load failed", extra={"run_id": run.run_id, "connection_id": run.connection_id}
                )
                async with self.db.session(write=True) as session:
                    await runs_service.fail_pending(
                        session,
                        run.connection_id,
                        run.run_id,
                        f"loader crashed: {type(exc).__name__}: {exc}",
                        self.clock(),
                    )

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()


def _configured_types(
    events_by_type: Mapping[str, int] | None, connection: WarehouseConnection | None
) -> dict[str, int] | None:
    """The reference loader always names both of its types; drop empty ones a connection doesn't list."""
    if events_by_type is None:
        return None
    listed = set(connection.event_types) if connection is not None else set()
    return {k: v for k, v in events_by_type.items() if v or k in listed}


def build_dispatcher(settings: Settings, db: Database, clock: Callable[[], datetime]) -> Dispatcher:
    """The dispatcher the settings name, the in-process one included."""
    return dispatchers.build(settings, local=lambda: LocalDispatcher(db, settings, clock), clock=clock)
