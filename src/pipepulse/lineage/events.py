"""An OpenLineage ``RunEvent`` checked and reduced to what pipepulse keeps.

The event is built with the ``openlineage-python`` client's own models (``RunEvent``,
``Run``, ``Job``, ``EventType`` and the facets we read), so what the client's validators
refuse (a ``runId`` that is not a UUID, an ``eventTime`` without a time, an unknown
``eventType``) is refused here too. Every refusal names the field, as ``loc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openlineage.client.generated.base import EventType, Job, Run, RunEvent
from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
from openlineage.client.generated.nominal_time_run import NominalTimeRunFacet
from openlineage.client.generated.output_statistics_output_dataset import OutputStatisticsOutputDatasetFacet

from pipepulse.errors import Invalid
from pipepulse.runs.schemas import MAX_COUNT

Loc = tuple[str | int, ...]
TERMINAL = frozenset({"COMPLETE", "FAIL", "ABORT"})
# A job's name is free text, but a name longer than this is not a name.
MAX_JOB_PART = 1000


@dataclass(frozen=True)
class LineageEvent:
    """What a run event means to pipepulse (SPEC §9)."""

    event_type: str
    event_time: datetime
    run_id: str
    namespace: str
    name: str
    rows: int
    bytes: int | None
    error_message: str | None
    nominal_start_at: datetime | None
    nominal_end_at: datetime | None
    parent: tuple[str, str, str] | None
    # The job's jobType facet: (integration, jobType), e.g. ("DBT", "MODEL").
    job_type: tuple[str, str] | None = None

    @property
    def terminal(self) -> bool:
        return self.event_type in TERMINAL

    @property
    def statement_level(self) -> bool:
        """One SQL statement of a dbt model (``dbt-ol --consume-structured-logs``): its model's
        run carries the outcome, so the statement is not a job of its own to watch."""
        return self.job_type == ("DBT", "SQL")


def _fail(loc: Loc, msg: str) -> Invalid:
    return Invalid(msg, loc=("body", *loc))


def _obj(value: Any, loc: Loc, *, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _fail(loc, f"{'.'.join(map(str, loc)) or 'the event'} must be a JSON object")
    return value


def _str(value: Any, loc: Loc, *, limit: int = MAX_JOB_PART) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(loc, f"{'.'.join(map(str, loc))} must be a non-empty string")
    if len(value) > limit:
        raise _fail(loc, f"{'.'.join(map(str, loc))} is longer than {limit} characters")
    return value


def _time(value: Any, loc: Loc) -> datetime:
    text = _str(value, loc, limit=64)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _fail(loc, f"{'.'.join(map(str, loc))} is not an ISO 8601 date-time: {text!r}") from None
    if parsed.tzinfo is None:
        raise _fail(loc, f"{'.'.join(map(str, loc))} needs a time zone (e.g. 'Z'): {text!r}")
    return parsed.astimezone(UTC)


def _count(value: Any, loc: Loc) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise _fail(loc, f"{'.'.join(map(str, loc))} must be a whole number from 0 to {MAX_COUNT}")
    return value


def _outputs(outputs: Any) -> tuple[int, int | None]:
    if outputs is None:
        return 0, None
    if not isinstance(outputs, list):
        raise _fail(("outputs",), "outputs must be a list of datasets")
    rows, size, sized = 0, 0, False
    for index, output in enumerate(outputs):
        loc: Loc = ("outputs", index)
        dataset = _obj(output, loc)
        facets = _obj(dataset.get("outputFacets"), (*loc, "outputFacets"), required=False)
        stats = facets.get("outputStatistics")
        if stats is None:
            continue
        at: Loc = (*loc, "outputFacets", "outputStatistics")
        stats = _obj(stats, at)
        facet = OutputStatisticsOutputDatasetFacet(
            rowCount=_count(stats.get("rowCount"), (*at, "rowCount")),
            size=_count(stats.get("size"), (*at, "size")),
        )
        rows += facet.rowCount or 0
        if facet.size is not None:
            size, sized = size + facet.size, True
    if rows > MAX_COUNT or size > MAX_COUNT:
        raise _fail(("outputs",), f"the outputs' rowCount or size add up to more than {MAX_COUNT}")
    return rows, size if sized else None


def parse(raw: Any) -> LineageEvent:
    """Check one run event; raises ``Invalid`` naming the first field that is wrong."""
    event = _obj(raw, ())
    if "eventType" not in event:
        raise _fail(("eventType",), "eventType is required: START, RUNNING, COMPLETE, ABORT, FAIL or OTHER")
    try:
        event_type = EventType(event["eventType"])
    except ValueError:
        raise _fail(
            ("eventType",),
            f"eventType {event['eventType']!r} is not one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER",
        ) from None
    event_time = _time(event.get("eventTime"), ("eventTime",))
    run_raw = _obj(event.get("run"), ("run",))
    run_facets = _obj(run_raw.get("facets"), ("run", "facets"), required=False)
    job_raw = _obj(event.get("job"), ("job",))
    namespace = _str(job_raw.get("namespace"), ("job", "namespace"))
    name = _str(job_raw.get("name"), ("job", "name"))
    job_facets = _obj(job_raw.get("facets"), ("job", "facets"), required=False)
    job_type = None
    if isinstance(job_facets.get("jobType"), dict):
        kind = job_facets["jobType"]
        if isinstance(kind.get("integration"), str) and isinstance(kind.get("jobType"), str):
            job_type = (kind["integration"].upper(), kind["jobType"].upper())
    run_id_raw = _str(run_raw.get("runId"), ("run", "runId"), limit=64)
    try:
        run = Run(runId=run_id_raw)
    except ValueError:
        raise _fail(("run", "runId"), f"run.runId must be a UUID: {run_id_raw!r}") from None
    try:
        RunEvent(
            eventTime=event["eventTime"],
            producer=event.get("producer") or "",
            eventType=event_type,
            run=run,
            job=Job(namespace=namespace, name=name),
        )
    except (ValueError, TypeError, OverflowError) as exc:
        raise _fail(("eventTime",), f"eventTime is not an OpenLineage date-time ({exc})") from None
    rows, size = _outputs(event.get("outputs"))

    error_message = None
    if "errorMessage" in run_facets:
        at: Loc = ("run", "facets", "errorMessage")
        facet = _obj(run_facets["errorMessage"], at)
        message = facet.get("message")
        if not isinstance(message, str):
            raise _fail((*at, "message"), "run.facets.errorMessage.message must be a string")
        error_message = ErrorMessageRunFacet(
            message=message, programmingLanguage=str(facet.get("programmingLanguage") or "")
        ).message

    nominal_start = nominal_end = None
    if "nominalTime" in run_facets:
        at = ("run", "facets", "nominalTime")
        facet = _obj(run_facets["nominalTime"], at)
        nominal_start = _time(facet.get("nominalStartTime"), (*at, "nominalStartTime"))
        if facet.get("nominalEndTime") is not None:
            nominal_end = _time(facet["nominalEndTime"], (*at, "nominalEndTime"))
        NominalTimeRunFacet(
            nominalStartTime=facet["nominalStartTime"], nominalEndTime=facet.get("nominalEndTime")
        )

    parent = None
    if "parent" in run_facets:
        at = ("run", "facets", "parent")
        facet = _obj(run_facets["parent"], at)
        parent_run = _obj(facet.get("run"), (*at, "run"))
        parent_job = _obj(facet.get("job"), (*at, "job"))
        parent_id = _str(parent_run.get("runId"), (*at, "run", "runId"), limit=64)
        parent = (
            _str(parent_job.get("namespace"), (*at, "job", "namespace")),
            _str(parent_job.get("name"), (*at, "job", "name")),
            parent_id,
        )

    return LineageEvent(
        event_type=event_type.value,
        event_time=event_time,
        run_id=str(run.runId).lower(),
        namespace=namespace,
        name=name,
        rows=rows,
        bytes=size,
        error_message=error_message,
        nominal_start_at=nominal_start,
        nominal_end_at=nominal_end,
        parent=parent,
        job_type=job_type,
    )
