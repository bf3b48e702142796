"""How a run treats a destination that fails: retries, dead letters, and stopping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipepulse.loader.classify import Event
from pipepulse.loader.config import LoaderConfig
from pipepulse.loader.destinations import BatchRejected, DestinationUnavailable
from pipepulse.loader.generator import generate_files
from pipepulse.loader.runner import deliver
from pipepulse.reporter.backoff import RetryPolicy
from pipepulse.wire.invocation import LoaderJob
from tests.loader.support import NOW, files_under, fixed_clock

LOST = "destination unreachable: duckdb:///w.duckdb: database is gone"


@dataclass
class ScriptedDestination:
    """Fails the calls named in `failures` (1-based) with the given error, keeps the rest."""

    failures: dict[int, Exception] = field(default_factory=dict)
    fail_from: int | None = None
    description: str = "duckdb:///w.duckdb"
    calls: int = 0
    stored: set[tuple[str, str]] = field(default_factory=set)

    def write_batch(self, job: LoaderJob, events: Sequence[Event]) -> set[str]:
        self.calls += 1
        if self.fail_from is not None and self.calls >= self.fail_from:
            raise DestinationUnavailable(LOST)
        if self.calls in self.failures:
            raise self.failures[self.calls]
        new = {(job.connection_id, event.event_id) for event in events} - self.stored
        self.stored |= new
        return {event_id for _, event_id in new}

    def close(self) -> None:
        pass


def _config(source_root: Path, **changes: object) -> LoaderConfig:
    retry = RetryPolicy(max_attempts=3, base_delay_s=1.0, max_delay_s=10.0)
    return LoaderConfig(source_root, "duckdb:///w.duckdb", batch_retry=retry, **changes)  # type: ignore[arg-type]


def test_deliver__batch_fails_twice_then_loads__retried_with_growing_delays(
    source_root: Path, job: LoaderJob
) -> None:
    generate_files(source_root, 7, now=NOW, events_per_file=10, seed=1)
    destination = ScriptedDestination({1: BatchRejected("deadlock"), 2: BatchRejected("deadlock")})
    sleeps: list[float] = []

    report = deliver(
        job, _config(source_root), destination, now=fixed_clock, sleep=sleeps.append, jitter=lambda: 1.0
    )

    assert (report.events_delivered, report.batches_dlq, report.error) == (10, 0, None)
    assert sleeps == [1.0, 2.0]


def test_deliver__batch_exhausts_retries__dead_lettered_and_next_batch_loaded(
    source_root: Path, job: LoaderJob
) -> None:
    generate_files(source_root, 7, now=NOW, events_per_file=20, seed=2)
    refused = BatchRejected("value too long for type character varying(64)")
    destination = ScriptedDestination({1: refused, 2: refused, 3: refused})

    report = deliver(
        job, _config(source_root, batch_size=10), destination, now=fixed_clock, sleep=lambda _: None
    )

    assert (report.events_delivered, report.batches_dlq, report.outcome) == (10, 1, "partial")
    dead = [name for name in files_under(source_root / "dlq") if name.endswith(".error.json")]
    assert len(dead) == 1
    assert "value too long" in (source_root / "dlq" / dead[0]).read_text()
    assert files_under(source_root / "events") == []


def test_deliver__destination_lost_mid_run__failed_and_unfinished_files_kept(
    source_root: Path, job: LoaderJob
) -> None:
    generated = generate_files(source_root, 7, now=NOW, hours=2, events_per_file=20, seed=3)
    destination = ScriptedDestination(fail_from=2)

    report = deliver(
        job, _config(source_root, batch_size=10), destination, now=fixed_clock, sleep=lambda _: None
    )

    assert report.error == LOST
    assert (report.events_delivered, report.batches_dlq, report.events_pending) == (10, 0, 30)
    assert destination.calls == 4  # the first batch, then three attempts at the second
    assert [f.path.exists() for f in generated] == [True, True]
    assert files_under(source_root / "dlq") == []


def test_deliver__loader_bug__failed_report_names_the_exception(source_root: Path, job: LoaderJob) -> None:
    generate_files(source_root, 7, now=NOW, events_per_file=5, seed=4)
    destination = ScriptedDestination({1: ZeroDivisionError("division by zero")})

    report = deliver(job, _config(source_root), destination, now=fixed_clock)

    assert report.error == "loader crashed: ZeroDivisionError: division by zero"
    assert report.events_pending == 5


def test_deliver__file_taken_by_an_overlapping_run__skipped_without_error(
    source_root: Path, job: LoaderJob
) -> None:
    first, second = generate_files(source_root, 7, now=NOW, hours=2, events_per_file=10, seed=5)

    class OverlappedDestination(ScriptedDestination):
        def write_batch(self, job: LoaderJob, events: Sequence[Event]) -> set[str]:
            # Meanwhile, another run of this connection delivers and archives the next file.
            taken = source_root / "archive" / second.path.relative_to(source_root)
            taken.parent.mkdir(parents=True, exist_ok=True)
            second.path.replace(taken)
            return super().write_batch(job, events)

    report = deliver(job, _config(source_root), OverlappedDestination(), now=fixed_clock)

    assert (report.error, report.events_delivered, report.batches_dlq) == (None, first.events, 0)
    assert files_under(source_root / "events") == []
    assert files_under(source_root / "dlq") == []
