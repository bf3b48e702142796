"""The reference loader against real warehouses: DuckDB files and PostgreSQL."""

from __future__ import annotations

import gzip
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipepulse.loader.generator import generate_files
from pipepulse.loader.runner import load_run
from pipepulse.reporter.backoff import RetryPolicy
from pipepulse.reporter.report_body import RunReportBody
from pipepulse.wire.invocation import LoaderJob
from tests.loader.support import (
    NOW,
    Warehouse,
    files_under,
    fixed_clock,
    make_config,
    write_events,
)


def _line_bytes(path: Path) -> int:
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return sum(len(line) for line in data.splitlines() if line.strip())


def test_load_run__gzip_and_plain_files__warehouse_rows_match_reported_counts(
    source_root: Path, job: LoaderJob, warehouse: Warehouse
) -> None:
    gz = generate_files(source_root, 7, now=NOW, hours=2, events_per_file=60, seed=1)
    plain = generate_files(source_root, 7, now=NOW, events_per_file=45, compress=False, seed=2)
    generated = gz + plain
    assert {f.path.name.endswith(".gz") for f in generated} == {True, False}

    report = load_run(job, make_config(source_root, warehouse, batch_size=25), now=fixed_clock)

    expected = {
        "evaluations": sum(f.evaluations for f in generated),
        "custom_events": sum(f.custom_events for f in generated),
    }
    assert report.error is None
    assert report.outcome == "succeeded"
    assert report.events_by_type == expected
    assert report.events_delivered == 165
    assert warehouse.counts(job.connection_id) == expected
    assert report.batches_dlq == 0
    assert report.events_pending == 0
    archived = [source_root / "archive" / f.path.relative_to(source_root) for f in generated]
    assert report.bytes_delivered == sum(_line_bytes(path) for path in archived)
    assert files_under(source_root / "events") == []


def test_load_run__poison_line__batch_dead_lettered_and_run_partial(
    source_root: Path, job: LoaderJob, warehouse: Warehouse
) -> None:
    generated = generate_files(source_root, 7, now=NOW, events_per_file=50, poison=True, seed=3)

    report = load_run(job, make_config(source_root, warehouse, batch_size=10), now=fixed_clock)

    dead = [name for name in files_under(source_root / "dlq") if name.endswith(".jsonl")]
    assert len(dead) == 1
    dead_lines = (source_root / "dlq" / dead[0]).read_bytes().splitlines()
    assert len(dead_lines) == 10
    poison = [line for line in dead_lines if not line.startswith(b"{") or not line.endswith(b"}")]
    assert len(poison) == 1
    sidecar = json.loads((source_root / "dlq" / (dead[0] + ".error.json")).read_text())
    assert sidecar["error"].startswith("poison records: line ")
    assert sidecar["error"].endswith(": not valid JSON")
    assert sidecar["run_id"] == job.run_id
    assert report.batches_dlq == 1
    assert report.outcome == "partial"
    assert report.error is None
    assert report.events_delivered == generated[0].events - 9
    assert warehouse.total(job.connection_id) == report.events_delivered
    assert files_under(source_root / "events") == []


def test_load_run__files_put_back_after_a_crash__rerun_delivers_nothing_twice(
    source_root: Path, job: LoaderJob, warehouse: Warehouse
) -> None:
    config = make_config(source_root, warehouse, batch_size=40)
    first = generate_files(source_root, 7, now=NOW, hours=2, events_per_file=50, seed=4)
    load_run(job, config, now=fixed_clock)
    # A crash between loading and archiving leaves the files where they were.
    shutil.copytree(source_root / "archive" / "events", source_root / "events", dirs_exist_ok=True)
    shutil.rmtree(source_root / "archive")
    newer = generate_files(source_root, 7, now=NOW, events_per_file=30, compress=False, seed=5)

    rerun = load_run(LoaderJob("run_2", job.connection_id, 7), config, now=fixed_clock)

    assert rerun.events_delivered == newer[0].events
    assert rerun.events_by_type == {
        "evaluations": newer[0].evaluations,
        "custom_events": newer[0].custom_events,
    }
    assert warehouse.total(job.connection_id) == sum(f.events for f in first + newer)
    assert files_under(source_root / "events") == []


def test_load_run__unreachable_postgres__failed_report_names_destination_without_password(
    source_root: Path, job: LoaderJob
) -> None:
    generated = generate_files(source_root, 7, now=NOW, events_per_file=20, seed=6)
    url = "postgresql://loader:s3cret@127.0.0.1:1/test?schema=analytics"
    config = make_config(source_root, Warehouse("postgresql", url, "t"), connect_timeout_s=2)

    report = load_run(job, config, now=fixed_clock)

    assert report.error == "destination unreachable: postgresql://loader@127.0.0.1:1/test: connection refused"
    assert report.outcome == "failed"
    assert report.events_delivered == 0
    assert report.events_pending == 20
    assert report.completed_at == NOW
    assert generated[0].path.exists()


def test_load_run__duckdb_path_is_a_directory__failed_report_says_why(
    source_root: Path, job: LoaderJob, tmp_path: Path
) -> None:
    generate_files(source_root, 7, now=NOW, events_per_file=5, seed=7)
    config = make_config(source_root, Warehouse("duckdb", f"duckdb://{tmp_path}", "t"))

    report = load_run(job, config, now=fixed_clock)

    assert report.error == (
        f'destination unreachable: duckdb://{tmp_path}: could not read from file "{tmp_path}": Is a directory'
    )
    assert report.events_pending == 5


@pytest.mark.postgres_only
def test_load_run__postgres_refuses_a_batch__retried_then_dead_lettered(
    source_root: Path, job: LoaderJob, postgres_warehouse: Warehouse
) -> None:
    # PostgreSQL's jsonb cannot hold a NUL character: valid JSON the warehouse refuses.
    write_events(
        source_root,
        "events/7/2026/04/20/11/part-a.jsonl",
        [
            '{"id": "ok-1", "type": "evaluation", "timestamp": "2026-04-20T11:00:00Z"}',
            '{"id": "ok-2", "type": "page_view", "timestamp": "2026-04-20T11:01:00Z"}',
            '{"id": "nul", "type": "page_view", "note": "\\u0000"}',
        ],
    )
    config = make_config(
        source_root,
        postgres_warehouse,
        batch_size=2,
        batch_retry=RetryPolicy(max_attempts=3, base_delay_s=0.0),
    )

    report = load_run(job, config, now=fixed_clock)

    assert (report.events_delivered, report.batches_dlq, report.outcome) == (2, 1, "partial")
    sidecar = source_root / "dlq/events/7/2026/04/20/11/part-a.lines-0000003-0000003.jsonl.error.json"
    letter = json.loads(sidecar.read_text())
    assert letter["attempts"] == 3
    assert "unsupported Unicode escape sequence" in letter["error"]
    assert postgres_warehouse.total(job.connection_id) == 2


def test_load_run__per_run_cap__rest_left_pending_then_delivered_next_run(
    source_root: Path, job: LoaderJob, duckdb_warehouse: Warehouse
) -> None:
    generated = generate_files(source_root, 7, now=NOW, hours=3, events_per_file=50, seed=8)
    capped = make_config(source_root, duckdb_warehouse, batch_size=50, max_events_per_run=120)

    first = load_run(job, capped, now=fixed_clock)
    still_waiting = [f.path.exists() for f in generated]
    second = load_run(LoaderJob("run_2", job.connection_id, 7), capped, now=fixed_clock)

    assert (first.events_delivered, first.events_pending) == (120, 30)
    assert still_waiting == [False, False, True]
    assert (second.events_delivered, second.events_pending) == (30, 0)
    assert duckdb_warehouse.total(job.connection_id) == 150
    assert files_under(source_root / "events") == []


def test_load_run__connections_with_their_own_prefixes__each_delivers_only_its_files(
    source_root: Path, duckdb_warehouse: Warehouse
) -> None:
    eu = generate_files(source_root, 7, now=NOW, source_prefix="events/7/eu", events_per_file=12)
    us = generate_files(source_root, 7, now=NOW, source_prefix="events/7/us", events_per_file=30)
    base = make_config(source_root, duckdb_warehouse)
    eu_job, us_job = LoaderJob("run_eu", "wc_eu", 7), LoaderJob("run_us", "wc_us", 7)

    eu_report = load_run(eu_job, base.with_connection_config({"source_prefix": "events/7/eu"}))
    us_report = load_run(us_job, base.with_connection_config({"source_prefix": "events/7/us"}))

    assert (eu_report.events_delivered, us_report.events_delivered) == (12, 30)
    assert duckdb_warehouse.total("wc_eu") == eu[0].events
    assert duckdb_warehouse.total("wc_us") == us[0].events


def test_load_run__nothing_waiting__succeeds_with_zero_delivered(
    source_root: Path, job: LoaderJob, duckdb_warehouse: Warehouse
) -> None:
    report = load_run(job, make_config(source_root, duckdb_warehouse), now=fixed_clock)

    assert report.to_json() == {
        "completed_at": "2026-04-20T12:00:00Z",
        "events_delivered": 0,
        "batches_dlq": 0,
        "error": None,
        "events_by_type": {"evaluations": 0, "custom_events": 0},
        "events_pending": 0,
        "bytes_delivered": 0,
    }


def test_load_run__events_with_known_timestamps__latency_is_age_of_oldest_delivered(
    source_root: Path, job: LoaderJob, duckdb_warehouse: Warehouse
) -> None:
    lines = [
        '{"id": "a", "event_type": "flag_evaluation", "timestamp": "2026-04-20T11:30:00Z"}',
        '{"event_type": "signup", "ts": 1776672000000}',  # 2026-04-20T08:00:00Z, epoch ms
        '{"id": "c", "type": "evaluation", "occurred_at": "2026-04-20T10:00:00+02:00"}',
    ]
    write_events(source_root, "events/7/2026/04/20/08/part-x.jsonl.gz", lines)

    report = load_run(job, make_config(source_root, duckdb_warehouse), now=fixed_clock)

    assert report.events_by_type == {"evaluations": 2, "custom_events": 1}
    assert report.latency_ms == 4 * 3600 * 1000
    assert report.bytes_delivered == sum(len(line.encode()) for line in lines)


def test_load_run__truncated_gzip_file__file_dead_lettered_and_others_delivered(
    source_root: Path, job: LoaderJob, duckdb_warehouse: Warehouse
) -> None:
    good = generate_files(source_root, 7, now=NOW, events_per_file=10, seed=9)
    broken = source_root / "events/7/2026/04/20/12/part-broken.jsonl.gz"
    whole = gzip.compress(b'{"id": "x", "type": "page_view"}\n' * 500)
    broken.write_bytes(whole[: len(whole) // 2])

    report = load_run(job, make_config(source_root, duckdb_warehouse), now=fixed_clock)

    assert (report.events_delivered, report.batches_dlq) == (good[0].events, 1)
    letter = json.loads(
        (source_root / "dlq/events/7/2026/04/20/12/part-broken.jsonl.gz.error.json").read_text()
    )
    assert letter["error"].startswith("unreadable file: events/7/2026/04/20/12/part-broken")
    assert files_under(source_root / "events") == []


def test_load_run__connections_loading_at_once_into_one_duckdb_file__all_delivered(
    source_root: Path, duckdb_warehouse: Warehouse
) -> None:
    # The in-process dispatcher runs several connections' loaders in threads of one process.
    jobs = [LoaderJob(f"run_{n}", f"wc_{n}", 7) for n in range(6)]
    for n in range(6):
        generate_files(source_root, 7, now=NOW, source_prefix=f"events/7/c{n}", events_per_file=80)
    base = make_config(source_root, duckdb_warehouse, batch_size=30)

    def run(job: LoaderJob) -> RunReportBody:
        prefix = f"events/7/c{job.connection_id.removeprefix('wc_')}"
        return load_run(job, base.with_connection_config({"source_prefix": prefix}))

    with ThreadPoolExecutor(max_workers=6) as pool:
        reports = list(pool.map(run, jobs))

    assert [(r.error, r.events_delivered) for r in reports] == [(None, 80)] * 6
    assert [duckdb_warehouse.total(job.connection_id) for job in jobs] == [80] * 6


def test_load_run__overlapping_runs_of_one_connection__each_event_counted_once(
    source_root: Path, job: LoaderJob, duckdb_warehouse: Warehouse
) -> None:
    generated = generate_files(source_root, 7, now=NOW, hours=4, events_per_file=100, seed=10)
    config = make_config(
        source_root,
        duckdb_warehouse,
        batch_size=20,
        batch_retry=RetryPolicy(max_attempts=5, base_delay_s=0.01, max_delay_s=0.05),
    )
    overlapping = [job, LoaderJob("run_2", job.connection_id, 7)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda each: load_run(each, config), overlapping))

    assert [r.error for r in reports] == [None, None]
    assert sum(r.events_delivered for r in reports) == 400
    assert duckdb_warehouse.total(job.connection_id) == 400 == sum(f.events for f in generated)
    assert files_under(source_root / "events") == []
