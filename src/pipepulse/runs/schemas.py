from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from pipepulse.rules import Outcome
from pipepulse.schemas import JSON_INTEGER, MAX_INT_ID, ResourceId, StrictModel, Timestamp

MAX_ERROR_LENGTH = 2000
# Counts must survive a round trip through JavaScript clients.
MAX_COUNT = 2**53 - 1

Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT), JSON_INTEGER]
SmallCount = Annotated[int, Field(strict=True, ge=0, le=2**31 - 1), JSON_INTEGER]

COMPLETION_FIELDS = (
    "completed_at",
    "events_delivered",
    "batches_dlq",
    "error",
    "events_by_type",
    "latency_ms",
    "events_pending",
    "bytes_delivered",
)


def _check_breakdown(events_delivered: int, events_by_type: dict[str, int] | None) -> None:
    if events_by_type is None:
        return
    total = sum(events_by_type.values())
    if total != events_delivered:
        raise ValueError(
            f"events_by_type sums to {total} but events_delivered is {events_delivered}; "
            "they must be equal (omit events_by_type to count everything as 'other')"
        )


# The report body as the API reads it and the service takes it (OpenAPI `RunReport`: the name
# is part of the API). The SDK writes the same body with `pipepulse.reporter.RunReportBody`.
class RunReport(StrictModel):
    """What a loader reports when a run completes (the reference body plus optional fields)."""

    completed_at: Timestamp
    events_delivered: Count = 0
    batches_dlq: SmallCount = 0
    error: str | None = Field(
        default=None, description=f"Kept up to {MAX_ERROR_LENGTH} characters; longer is cut."
    )
    events_by_type: dict[str, Count] | None = None
    latency_ms: Count | None = None
    events_pending: Count | None = None
    bytes_delivered: Count | None = None

    @model_validator(mode="after")
    def _breakdown_sums(self) -> RunReport:
        _check_breakdown(self.events_delivered, self.events_by_type)
        return self


MAX_BATCH_REPORTS = 1000


class BatchReportItem(RunReport):
    """One report of a batch: the run it completes, then exactly the PATCH body."""

    organisation_id: Annotated[int, Field(strict=True, ge=1, le=MAX_INT_ID), JSON_INTEGER]
    connection_id: ResourceId
    run_id: ResourceId


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class BatchReportResult(BaseModel):
    index: int = Field(description="The item's position in the request, from 0.")
    status: int = Field(
        description="What the single PATCH would have answered: 204, 404, 409 or 422.",
        json_schema_extra={"enum": [204, 404, 409, 422]},
    )
    detail: str | list[ErrorItem] | None = Field(
        default=None, description="Why, when the status is not 204 (as the single call's error body)."
    )


class BatchReportResults(BaseModel):
    results: list[BatchReportResult]


class RunCreate(StrictModel):
    """Seed a pending run, or, with ``completed_at``, record a finished run in one call."""

    run_id: ResourceId | None = Field(
        default=None, description="Optional client key; repeating the same body is a no-op."
    )
    started_at: Timestamp
    completed_at: Timestamp | None = None
    events_delivered: Count | None = None
    batches_dlq: SmallCount | None = None
    error: str | None = None
    events_by_type: dict[str, Count] | None = None
    latency_ms: Count | None = None
    events_pending: Count | None = None
    bytes_delivered: Count | None = None

    @model_validator(mode="after")
    def _completion_needs_completed_at(self) -> RunCreate:
        if self.completed_at is None:
            given = [f for f in COMPLETION_FIELDS[1:] if getattr(self, f) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} given without completed_at; "
                    "add completed_at to record a finished run, or leave them out to seed a pending run"
                )
        else:
            _check_breakdown(self.events_delivered or 0, self.events_by_type)
        return self

    def report(self) -> RunReport | None:
        if self.completed_at is None:
            return None
        return RunReport(
            completed_at=self.completed_at,
            events_delivered=self.events_delivered or 0,
            batches_dlq=self.batches_dlq or 0,
            error=self.error,
            events_by_type=self.events_by_type,
            latency_ms=self.latency_ms,
            events_pending=self.events_pending,
            bytes_delivered=self.bytes_delivered,
        )


class RunOut(BaseModel):
    id: str
    connection_id: str
    organisation_id: int
    outcome: Outcome
    started_at: Timestamp
    completed_at: Timestamp | None
    finished_at: Timestamp | None = Field(
        description="When the run counts in windows: completed_at, or for an orphan the end of its window."
    )
    duration_ms: int | None
    events_delivered: int
    events_by_type: dict[str, int] | None
    batches_dlq: int
    error: str | None
    message: str | None = Field(description="The recent_errors message for a failing run.")
    error_fingerprint: str | None = Field(
        default=None,
        description="A failing run's error fingerprint (SPEC §7.4): the hash of error_template; "
        "`dead_letter` for a partial run, `orphaned` for an orphan, null for a run that is not failing.",
    )
    error_template: str | None = Field(
        default=None, description="A failing run's error with its volatile parts replaced (SPEC §7.4)."
    )
    latency_ms: int | None
    events_pending: int | None
    bytes_delivered: int | None
