"""The reporter SDK: what any Python loader needs to tell pipepulse what a run delivered.

:class:`Reporter` creates and completes runs over the API with a service key, retrying with
backoff (:class:`RetryPolicy`); :class:`RunReportBody` is the body it sends, checked before it
is sent. The reference loader (``pipepulse.loader``) is one user of it.
"""

from pipepulse.reporter.backoff import RetryPolicy
from pipepulse.reporter.client import (
    CreatedRun,
    ReportConflict,
    Reporter,
    ReporterError,
    ReportFailed,
    ReportOutcome,
    ReportRejected,
)
from pipepulse.reporter.report_body import CUSTOM_EVENTS, EVALUATIONS, EVENT_TYPES, RunReportBody

__all__ = [
    "CUSTOM_EVENTS",
    "EVALUATIONS",
    "EVENT_TYPES",
    "CreatedRun",
    "ReportConflict",
    "ReportFailed",
    "ReportOutcome",
    "ReportRejected",
    "Reporter",
    "ReporterError",
    "RetryPolicy",
    "RunReportBody",
]
