"""`python -m pipepulse.loader run|generate`: the reference loader from a shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pipepulse.clock import utc_now
from pipepulse.loader.config import DEFAULT_SOURCE_PREFIX, ENV_PREFIX, LoaderConfig
from pipepulse.loader.generator import generate_files
from pipepulse.loader.runner import load_run
from pipepulse.reporter.backoff import RetryPolicy
from pipepulse.reporter.client import Reporter, ReporterError, new_run_id
from pipepulse.wire.invocation import InvalidJob, LoaderJob

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_REPORTED = 3


def _parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    def env(name: str) -> str | None:
        return environ.get(ENV_PREFIX + name) or None

    parser = argparse.ArgumentParser(prog="python -m pipepulse.loader")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="deliver waiting event files and report the run")
    run.add_argument("--run-id", help="a run the scheduler seeded; omit to create one (push)")
    run.add_argument("--connection-id", required=True)
    run.add_argument("--organisation-id", type=int, required=True)
    run.add_argument("--source-root", type=Path, default=env("SOURCE_ROOT"))
    run.add_argument("--destination", default=env("DESTINATION"))
    run.add_argument("--source-prefix", default=env("SOURCE_PREFIX") or DEFAULT_SOURCE_PREFIX)
    run.add_argument("--archive-prefix", default=env("ARCHIVE_PREFIX") or "archive")
    run.add_argument("--dlq-prefix", default=env("DLQ_PREFIX") or "dlq")
    # argparse converts string defaults with `type`, so a bad variable is a usage error.
    run.add_argument("--batch-size", type=int, default=env("BATCH_SIZE") or 1000)
    run.add_argument("--batch-attempts", type=int, default=env("BATCH_ATTEMPTS") or 3)
    run.add_argument("--max-events", type=int, default=env("MAX_EVENTS_PER_RUN"), help="per-run cap")
    run.add_argument("--connect-timeout", type=float, default=env("CONNECT_TIMEOUT") or 10.0)
    run.add_argument(
        "--api-url",
        default=env("API_URL"),
        help="report to this pipepulse; the key comes from PIPEPULSE_LOADER_SERVICE_KEY",
    )
    run.add_argument("--no-report", action="store_true", help="only print the report")

    generate = commands.add_parser("generate", help="write generated event files")
    generate.add_argument("--source-root", type=Path, default=env("SOURCE_ROOT"))
    generate.add_argument("--organisation-id", type=int, required=True)
    generate.add_argument("--source-prefix", default=None)
    generate.add_argument("--hours", type=int, default=1)
    generate.add_argument("--files-per-hour", type=int, default=1)
    generate.add_argument("--events-per-file", type=int, default=100)
    generate.add_argument("--poison", action="store_true", help="add one malformed line")
    generate.add_argument("--plain", action="store_true", help="write .jsonl, not .jsonl.gz")
    generate.add_argument("--seed", type=int, default=None)
    return parser


def _run(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    now: Callable[[], datetime],
    out: TextIO,
) -> int:
    if args.source_root is None or args.destination is None:
        print("--source-root and --destination are required (or their env vars)", file=sys.stderr)
        return EXIT_USAGE
    started_at = now()
    try:
        job = LoaderJob(args.run_id or new_run_id(), args.connection_id, args.organisation_id)
        config = LoaderConfig(
            source_root=args.source_root,
            destination_url=args.destination,
            source_prefix=args.source_prefix,
            archive_prefix=args.archive_prefix,
            dlq_prefix=args.dlq_prefix,
            batch_size=args.batch_size,
            batch_retry=RetryPolicy(max_attempts=args.batch_attempts, base_delay_s=0.2),
            max_events_per_run=args.max_events,
            connect_timeout_s=args.connect_timeout,
        )
    except (InvalidJob, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = load_run(job, config, now=now)
    print(json.dumps({"run_id": job.run_id, "outcome": report.outcome, **report.to_json()}), file=out)
    if args.api_url and not args.no_report:
        try:
            with Reporter.from_env({**environ, ENV_PREFIX + "API_URL": args.api_url}) as reporter:
                if args.run_id:
                    reporter.report_run(job.organisation_id, job.connection_id, job.run_id, report)
                else:
                    reporter.create_run(
                        job.organisation_id,
                        job.connection_id,
                        run_id=job.run_id,
                        started_at=started_at,
                        report=report,
                    )
        except ReporterError as exc:
            print(f"error: report not delivered: {exc}", file=sys.stderr)
            return EXIT_NOT_REPORTED
    return EXIT_RUN_FAILED if report.error else EXIT_OK


def _generate(args: argparse.Namespace, now: Callable[[], datetime], out: TextIO) -> int:
    if args.source_root is None:
        print("--source-root is required (or PIPEPULSE_LOADER_SOURCE_ROOT)", file=sys.stderr)
        return EXIT_USAGE
    files = generate_files(
        args.source_root,
        args.organisation_id,
        now=now(),
        source_prefix=args.source_prefix,
        hours=args.hours,
        files_per_hour=args.files_per_hour,
        events_per_file=args.events_per_file,
        poison=args.poison,
        compress=not args.plain,
        seed=args.seed,
    )
    for file in files:
        print(
            json.dumps(
                {
                    "path": str(file.path),
                    "evaluations": file.evaluations,
                    "custom_events": file.custom_events,
                    "poison_lines": file.poison_lines,
                }
            ),
            file=out,
        )
    return EXIT_OK


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    now: Callable[[], datetime] = utc_now,
    out: TextIO | None = None,
) -> int:
    """Parse `argv`, do the command, return the exit status (0 ok, 1 run failed, 3 unreported)."""
    environ = os.environ if environ is None else environ
    out = sys.stdout if out is None else out
    args = _parser(environ).parse_args(argv)
    if args.command == "run":
        return _run(args, environ, now, out)
    return _generate(args, now, out)
