"""AWS Lambda entry point: load one scheduled run (or a batch of them), then report to pipepulse."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pipepulse.clock import utc_now
from pipepulse.loader.config import config_from_env
from pipepulse.loader.runner import load_run
from pipepulse.reporter.client import MAX_BATCH, ReportConflict, Reporter, ReportRejected
from pipepulse.reporter.report_body import EVENT_TYPES, RunReportBody
from pipepulse.wire.invocation import InvalidJob, LoaderJob

logger = logging.getLogger(__name__)


def handle(
    event: Mapping[str, object],
    environ: Mapping[str, str],
    *,
    now: Callable[[], datetime] = utc_now,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Load the run named by `event` with settings from `environ`, report it, return the report.

    An event carrying several jobs (``{"jobs": [...]}``, or an SQS batch of them) loads each
    and reports them together: see :func:`handle_many`.
    """
    jobs = jobs_of(event)
    if jobs is not None:
        return handle_many(jobs, environ, now=now, reporter=reporter)
    job = LoaderJob.from_event(event)
    reporter = reporter or Reporter.from_env(environ)
    report = _load(job, environ, now)
    with reporter:
        try:
            reporter.report_run(job.organisation_id, job.connection_id, job.run_id, report)
        except ReportConflict as exc:
            # Lambda retries a failed async invocation; if an earlier attempt reported, the
            # run keeps that report, and this attempt (which found nothing new) steps aside.
            logger.warning("run already reported", extra={"run_id": job.run_id, "detail": exc.detail})
    return {"run_id": job.run_id, "outcome": report.outcome, **report.to_json()}


def _load(job: LoaderJob, environ: Mapping[str, str], now: Callable[[], datetime]) -> RunReportBody:
    try:
        config = config_from_env(environ)
    except ValueError as exc:  # a LoaderConfigError, or a retry policy out of range
        # Still report: a misconfigured loader is a failed run people can see and fix.
        return RunReportBody(
            completed_at=now(),
            error=f"loader misconfigured: {exc}",
            events_by_type=dict.fromkeys(EVENT_TYPES, 0),
        )
    return load_run(job, config, now=now)


def jobs_of(event: Mapping[str, object]) -> list[LoaderJob] | None:
    """The jobs of a batch event, ``{"jobs": [...]}`` or an SQS batch (each record's body is
    one job); None for a single job's payload."""
    if "jobs" in event:
        items = event["jobs"]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InvalidJob("jobs must be a list of job payloads")
        return [LoaderJob.from_event(item) for item in items]
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list):
            raise InvalidJob("Records must be a list")
        jobs = []
        for record in records:
            body = record.get("body") if isinstance(record, dict) else None
            try:
                payload = json.loads(body) if isinstance(body, str) else None
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                raise InvalidJob("each SQS record's body must be a job payload (a JSON object)")
            jobs.append(LoaderJob.from_event(payload))
        return jobs
    return None


def handle_many(
    jobs: Sequence[LoaderJob],
    environ: Mapping[str, str],
    *,
    now: Callable[[], datetime] = utc_now,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Load each job in turn, reporting through a batching reporter: one request for up to
    1,000 reports (queued reports also leave after PIPEPULSE_LOADER_REPORT_LINGER_SECONDS).

    As for one job, a run that already holds a different report (a retried invocation) is
    logged and passed over; any other refusal raises once every report has been sent.
    """
    size = max(1, min(len(jobs), MAX_BATCH))
    reporter = reporter or Reporter.from_env(environ, batch_size=size)
    runs = []
    with reporter:
        for job in jobs:
            report = _load(job, environ, now)
            reporter.report_run(job.organisation_id, job.connection_id, job.run_id, report)
            runs.append({"run_id": job.run_id, "outcome": report.outcome, **report.to_json()})
    for refused in reporter.refused:
        if refused.status_code == 409:
            logger.warning("run already reported", extra={"run_id": refused.run_id, "detail": refused.detail})
    failed = [r for r in reporter.refused if r.status_code != 409]
    if failed:
        raise ReportRejected(failed[0].status_code, failed[0].detail)
    return {"runs": runs}


def handler(event: Mapping[str, object], context: object) -> dict[str, Any]:
    """Lambda handler: `{"run_id", "connection_id", "organisation_id"}` in, report out."""
    logger.info(
        "loader invoked",
        extra={"request_id": getattr(context, "aws_request_id", None), "run_id": event.get("run_id")},
    )
    return handle(event, os.environ)
