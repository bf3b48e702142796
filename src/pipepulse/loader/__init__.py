"""The reference loader: reads event files, loads them into DuckDB or PostgreSQL, reports the run.

It reports through the reporter SDK (``pipepulse.reporter``) and reads its invocation with the
wire contract (``pipepulse.wire``). The SDK's names are re-exported here, as earlier releases
documented them (``from pipepulse.loader import Reporter, RunReport``); new code imports them
from ``pipepulse.reporter``.
"""

from pipepulse.loader.config import LoaderConfig, LoaderConfigError, config_from_env
from pipepulse.loader.runner import load_run
from pipepulse.reporter import (
    CUSTOM_EVENTS,
    EVALUATIONS,
    EVENT_TYPES,
    CreatedRun,
    ReportConflict,
    Reporter,
    ReporterError,
    ReportFailed,
    ReportOutcome,
    ReportRejected,
    RetryPolicy,
    RunReportBody,
)
from pipepulse.wire.invocation import InvalidJob, LoaderJob

RunReport = RunReportBody  # the SDK's earlier name for the report body

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
    "RunReportBody",
    "config_from_env",
    "load_run",
]
