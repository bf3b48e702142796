"""The loader side of pipepulse: the reporter client and the reference loader."""

from pipepulse.loader.backoff import RetryPolicy
from pipepulse.loader.config import LoaderConfig, LoaderConfigError, config_from_env
from pipepulse.loader.job import InvalidJob, LoaderJob
from pipepulse.loader.report import CUSTOM_EVENTS, EVALUATIONS, EVENT_TYPES, RunReport
from pipepulse.loader.reporter import (
    CreatedRun,
    ReportConflict,
    Reporter,
    ReporterError,
    ReportFailed,
    ReportOutcome,
    ReportRejected,
)
from pipepulse.loader.runner import load_run

__all__ = [
    "CUSTOM_EVENTS",
    "EVALUATIONS",
    "EVENT_TYPES",
    "CreatedRun",
    "InvalidJob",
    "LoaderConfig",
    "LoaderConfigError",
    "LoaderJob",
    "ReportConflict",
    "ReportFailed",
    "ReportOutcome",
    "ReportRejected",
    "Reporter",
    "ReporterError",
    "RetryPolicy",
    "RunReport",
    "config_from_env",
    "load_run",
]
