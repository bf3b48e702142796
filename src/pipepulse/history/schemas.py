"""The answers of ``GET {conn}/status-history/`` and ``GET {conn}/health/`` (SPEC §7.1, §7.2)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from pipepulse.history import service
from pipepulse.rules import STATUSES, Status
from pipepulse.schemas import Timestamp
from pipepulse.status.reasons import Reason, ReasonCode
from pipepulse.status.timeline import Incident, Interval
from pipepulse.status.verdicts import Baseline, Freshness, Volume, VolumeVerdict


def seconds(value: timedelta) -> int:
    """A duration in whole seconds (the fraction cut off), as the API's timestamps are."""
    return int(value.total_seconds())


class ReasonOut(BaseModel):
    code: ReasonCode = Field(description="Machine-readable: why the status holds.")
    text: str = Field(description="The same reason in a sentence.")
    runs: list[str] | None = Field(
        default=None,
        description="The failing runs the reason rests on, newest first "
        "(only for latest_runs_failing and failing_runs_24h; absent otherwise).",
        exclude_if=lambda runs: runs is None,
    )

    @classmethod
    def of(cls, reason: Reason) -> ReasonOut:
        return cls(
            code=reason.code, text=reason.text, runs=list(reason.runs) if reason.runs is not None else None
        )


class IntervalOut(BaseModel):
    status: Status
    start: Timestamp
    end: Timestamp
    reason: ReasonOut = Field(description="The reason that held when the interval began (or at 'from').")

    @classmethod
    def of(cls, interval: Interval) -> IntervalOut:
        return cls(
            status=interval.status,
            start=interval.start,
            end=interval.end,
            reason=ReasonOut.of(interval.reason),
        )


class IncidentOut(BaseModel):
    started_at: Timestamp
    ended_at: Timestamp | None = Field(description="Null while the incident is still open.")
    duration_seconds: int = Field(description="Until ended_at, or for an open incident until as_of.")
    streak_started_at: Timestamp | None = Field(
        description="When the failing streak that led into the incident began: the time of its first "
        "run (the unbroken failing runs ending with the one whose finish made the status error)."
    )
    first_error: str | None = Field(description="The message of the failing streak's first run.")
    first_error_run_id: str | None = Field(description="The id of the failing streak's first run.")
    failing_runs: int = Field(
        description="Failing runs from the streak's first run to the incident's end (open: to as_of)."
    )

    @classmethod
    def of(cls, incident: Incident, now: datetime) -> IncidentOut:
        return cls(
            started_at=incident.started_at,
            ended_at=incident.ended_at,
            streak_started_at=incident.streak_started_at,
            duration_seconds=seconds(incident.duration(now)),
            first_error=incident.first_error,
            first_error_run_id=incident.first_error_run_id,
            failing_runs=incident.failing_runs,
        )


class StatusHistoryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: Timestamp = Field(alias="from")
    to: Timestamp
    intervals: list[IntervalOut]
    time_in_status: dict[Status, int] = Field(description="Whole seconds in each status within the range.")
    uptime_percent: float = Field(description="100 * time not in error / range length, two decimals.")
    incidents: list[IncidentOut] = Field(description="Every incident overlapping the range, not cut to it.")
    mttr_seconds: int | None = Field(description="Mean duration of the incidents that ended in the range.")
    as_of: Timestamp

    @classmethod
    def of(cls, history: service.StatusHistory) -> StatusHistoryOut:
        return cls(
            from_=history.start,
            to=history.end,
            intervals=[IntervalOut.of(i) for i in history.intervals],
            time_in_status={s: seconds(history.time_in_status[s]) for s in STATUSES},
            uptime_percent=history.uptime_percent,
            incidents=[IncidentOut.of(i, history.as_of) for i in history.incidents],
            mttr_seconds=seconds(history.mttr) if history.mttr is not None else None,
            as_of=history.as_of,
        )


class FreshnessOut(BaseModel):
    sla_seconds: int = Field(description="freshness_sla_seconds, or 2 x schedule interval + orphan window.")
    last_delivery_at: Timestamp | None
    late: bool
    late_by_seconds: int = Field(description="How far past the SLA; 0 when not late.")

    @classmethod
    def of(cls, verdict: Freshness) -> FreshnessOut:
        return cls(
            sla_seconds=seconds(verdict.sla),
            last_delivery_at=verdict.last_delivery_at,
            late=verdict.late,
            late_by_seconds=seconds(verdict.late_by),
        )


class VolumeOut(BaseModel):
    hour: Timestamp = Field(description="The latest complete UTC hour.")
    actual: int = Field(description="Events delivered by runs that finished in that hour.")
    expected: float | None = Field(description="Median of the baseline hours; null without a baseline.")
    lower: float | None
    upper: float | None
    verdict: VolumeVerdict | None = Field(description="normal, drop or spike; null without a baseline.")
    baseline: Baseline = Field(description="'insufficient' with fewer than 5 baseline hours.")
    baseline_hours: int = Field(description="Same hour on the previous 7 days with a finished run.")

    @classmethod
    def of(cls, verdict: Volume) -> VolumeOut:
        return cls(
            hour=verdict.hour,
            actual=verdict.actual,
            expected=verdict.expected,
            lower=verdict.lower,
            upper=verdict.upper,
            verdict=verdict.verdict,
            baseline=verdict.baseline,
            baseline_hours=verdict.baseline_hours,
        )


class ConnectionHealthOut(BaseModel):
    status: Status
    reason: ReasonOut
    since: Timestamp = Field(description="Start of the current timeline interval.")
    open_incident: IncidentOut | None
    freshness: FreshnessOut
    volume: VolumeOut
    as_of: Timestamp

    @classmethod
    def of(cls, health: service.Health) -> ConnectionHealthOut:
        return cls(
            status=health.current.state.status,
            reason=ReasonOut.of(health.current.reason),
            since=health.since,
            open_incident=IncidentOut.of(health.open_incident, health.as_of)
            if health.open_incident
            else None,
            freshness=FreshnessOut.of(health.freshness),
            volume=VolumeOut.of(health.volume),
            as_of=health.as_of,
        )
