"""AWS Lambda entry point: load one scheduled run, then report it to pipepulse."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pipepulse.loader.config import config_from_env
from pipepulse.loader.job import LoaderJob
from pipepulse.loader.report import EVENT_TYPES, RunReport
from pipepulse.loader.reporter import ReportConflict, Reporter
from pipepulse.loader.runner import load_run, utc_now

logger = logging.getLogger(__name__)


def handle(
    event: Mapping[str, object],
    environ: Mapping[str, str],
    *,
    now: Callable[[], datetime] = utc_now,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Load the run named by `event` with settings from `environ`, report it, return the report."""
    job = LoaderJob.from_event(event)
    reporter = reporter or Reporter.from_env(environ)
    try:
        config = config_from_env(environ)
    except ValueError as exc:  # a LoaderConfigError, or a retry policy out of range
        # Still report: a misconfigured loader is a failed run people can see and fix.
        report = RunReport(
            completed_at=now(),
            error=f"loader misconfigured: {exc}",
            events_by_type=dict.fromkeys(EVENT_TYPES, 0),
        )
    else:
        report = load_run(job, config, now=now)
    with reporter:
        try:
            reporter.report_run(job.organisation_id, job.connection_id, job.run_id, report)
        except ReportConflict as exc:
            # Lambda retries a failed async invocation; if an earlier attempt reported, the
            # run keeps that report, and this attempt (which found nothing new) steps aside.
            logger.warning("run already reported", extra={"run_id": job.run_id, "detail": exc.detail})
    return {"run_id": job.run_id, "outcome": report.outcome, **report.to_json()}


def handler(event: Mapping[str, object], context: object) -> dict[str, Any]:
    """Lambda handler: `{"run_id", "connection_id", "organisation_id"}` in, report out."""
    logger.info(
        "loader invoked",
        extra={"request_id": getattr(context, "aws_request_id", None), "run_id": event.get("run_id")},
    )
    return handle(event, os.environ)
