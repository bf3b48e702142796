"""The reference loader: deliver a connection's waiting event files and say what was delivered."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from pipepulse.clock import utc_now
from pipepulse.loader.archive import StorageError, archive_file
from pipepulse.loader.classify import Event, PoisonRecord, parse_line
from pipepulse.loader.config import LoaderConfig, LoaderConfigError
from pipepulse.loader.connect import open_destination
from pipepulse.loader.dead_letter import DeadLetter, dead_letter_batch, dead_letter_file
from pipepulse.loader.destinations import (
    BatchRejected,
    Destination,
    DestinationUnavailable,
    InvalidDestination,
)
from pipepulse.loader.run_tally import RunTally
from pipepulse.loader.source import (
    FileVanished,
    SourceFile,
    SourceUnavailable,
    UnreadableFile,
    count_events,
    list_source_files,
    read_lines,
)
from pipepulse.reporter.report_body import EVENT_TYPES, RunReportBody
from pipepulse.wire.invocation import LoaderJob

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Line = tuple[int, bytes]
# Errors that end a run early with a message for the run's `error`.
RUN_STOPPERS = (
    DestinationUnavailable,
    InvalidDestination,
    SourceUnavailable,
    StorageError,
    LoaderConfigError,
)


def poison_summary(poison: Sequence[PoisonRecord]) -> str:
    """One line naming the first few poison records of a batch."""
    shown = "; ".join(f"line {record.line_no}: {record.reason}" for record in poison[:3])
    more = f" (and {len(poison) - 3} more)" if len(poison) > 3 else ""
    return f"poison records: {shown}{more}"


def unique_events(events: Sequence[Event]) -> list[Event]:
    """The batch without repeated ids; the first occurrence wins, as the warehouse's would."""
    seen: set[str] = set()
    unique: list[Event] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    return unique


@dataclass
class _Delivery:
    """One run in progress: the job, its settings, and where it stands."""

    job: LoaderJob
    config: LoaderConfig
    destination: Destination
    clock: Clock
    sleep: Callable[[float], None]
    jitter: Callable[[], float]
    tally: RunTally = field(default_factory=RunTally)
    _current: SourceFile | None = None
    _handled_in_current: int = 0
    _rest: Sequence[SourceFile] = ()

    def room(self) -> int:
        """How many events the next batch may hold under the per-run cap."""
        cap = self.config.max_events_per_run
        if cap is None:
            return self.config.batch_size
        return max(0, min(self.config.batch_size, cap - self.tally.handled))

    def deliver_files(self, files: Sequence[SourceFile]) -> None:
        """Deliver files oldest first, archiving each one fully handled."""
        for index, file in enumerate(files):
            self._current, self._handled_in_current = file, 0
            self._rest = files[index + 1 :]
            try:
                finished = self.deliver_file(file)
            except FileVanished:
                continue  # an overlapping run of this connection is delivering it
            except UnreadableFile as exc:
                letter = DeadLetter(self.job.run_id, f"unreadable file: {exc}", 1, self.clock())
                dead_letter_file(file, self.config.dlq_prefix, letter)
                self.tally.batches_dlq += 1
                continue
            if not finished:
                return
            archive_file(file, self.config.archive_prefix)
        self._current, self._rest = None, ()

    def count_pending(self) -> None:
        """Count what this run leaves for the next one: the rest of its file and later files."""
        if self._current is None:
            return
        left_in_current = max(0, count_events(self._current) - self._handled_in_current)
        self.tally.pending = left_in_current + sum(count_events(file) for file in self._rest)

    def deliver_file(self, file: SourceFile) -> bool:
        """Deliver one file batch by batch; False when the per-run cap stopped it midway."""
        with closing(read_lines(file)) as lines:
            while True:
                room = self.room()
                if room == 0:
                    # Reaching the cap exactly at the end of a file still finishes the file.
                    return next(lines, None) is None
                batch = list(islice(lines, room))
                if not batch:
                    return True
                self.deliver_batch(file, batch)
                self.tally.handled += len(batch)
                self._handled_in_current += len(batch)

    def deliver_batch(self, file: SourceFile, batch: Sequence[Line]) -> None:
        """Load one batch, retrying, or dead-letter it when no retry can help."""
        source = file.relative.as_posix()
        parsed = [parse_line(raw, source=source, line_no=line_no) for line_no, raw in batch]
        poison = [record for record in parsed if isinstance(record, PoisonRecord)]
        if poison:
            # Retrying cannot fix a malformed line; the batch goes whole, so a fix and replay
            # of the dead-letter file loads exactly what was held back.
            self._dead_letter(file, batch, poison_summary(poison), attempts=0)
            return
        events = unique_events([record for record in parsed if isinstance(record, Event)])
        policy = self.config.batch_retry
        for attempt in range(1, policy.max_attempts + 1):
            try:
                inserted = self.destination.write_batch(self.job, events)
            except (BatchRejected, DestinationUnavailable) as exc:
                logger.warning(
                    "batch failed",
                    extra={
                        "run_id": self.job.run_id,
                        "source": source,
                        "attempt": attempt,
                        "reason": str(exc),
                    },
                )
                if attempt == policy.max_attempts:
                    if isinstance(exc, DestinationUnavailable):
                        raise  # the warehouse is gone, not the batch: keep the files for later
                    self._dead_letter(file, batch, str(exc), attempts=attempt)
                    return
                self.sleep(policy.delay_s(attempt, self.jitter()))
            else:
                self.tally.record(events, inserted)
                return

    def _dead_letter(self, file: SourceFile, batch: Sequence[Line], error: str, *, attempts: int) -> None:
        letter = DeadLetter(self.job.run_id, error, attempts, self.clock())
        dead_letter_batch(file, self.config.dlq_prefix, batch, letter)
        self.tally.batches_dlq += 1


def deliver(
    job: LoaderJob,
    config: LoaderConfig,
    destination: Destination,
    *,
    now: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> RunReportBody:
    """Deliver the job's waiting files into an open destination and report what happened."""
    delivery = _Delivery(job, config, destination, now, sleep, jitter)
    error: str | None = None
    try:
        files = list_source_files(config.source_root, config.prefix_for(job))
        delivery.deliver_files(files)
    except RUN_STOPPERS as exc:
        error = str(exc)
    except Exception as exc:
        # A bug must still end as a failed run the service can show, not as an orphan.
        logger.exception("loader crashed", extra={"run_id": job.run_id})
        error = f"loader crashed: {type(exc).__name__}: {exc}"
    delivery.count_pending()
    report = delivery.tally.report(now(), error)
    logger.info(
        "run loaded",
        extra={
            "run_id": job.run_id,
            "connection_id": job.connection_id,
            "organisation_id": job.organisation_id,
            "events_delivered": report.events_delivered,
            "batches_dlq": report.batches_dlq,
            "events_pending": report.events_pending,
            "error": report.error,
        },
    )
    return report


def _pending_in_source(job: LoaderJob, config: LoaderConfig) -> int:
    try:
        files = list_source_files(config.source_root, config.prefix_for(job))
    except (SourceUnavailable, LoaderConfigError):
        return 0
    return sum(count_events(file) for file in files)


def load_run(job: LoaderJob, config: LoaderConfig, *, now: Clock = utc_now) -> RunReportBody:
    """Run the reference loader for one job; never raises for a failed run, reports it."""
    try:
        destination = open_destination(config.destination_url, connect_timeout_s=config.connect_timeout_s)
    except (DestinationUnavailable, InvalidDestination) as exc:
        pending = _pending_in_source(job, config)
        return RunReportBody(
            completed_at=now(),
            error=str(exc),
            events_by_type=dict.fromkeys(EVENT_TYPES, 0),
            events_pending=pending,
            bytes_delivered=0,
        )
    try:
        return deliver(job, config, destination, now=now)
    finally:
        destination.close()
