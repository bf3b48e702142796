from __future__ import annotations

from pydantic import BaseModel, Field

from pipepulse.runs.schemas import ErrorItem

MAX_BATCH_EVENTS = 1000


class LineageResult(BaseModel):
    """What one OpenLineage event did."""

    event_type: str
    run_id: str = Field(description="The run it names (run.runId), also the pipepulse run id.")
    connection_id: str | None = Field(description="The connection of the job; null for RUNNING and OTHER.")
    changed: bool = Field(description="False for a repeat, or an event that changes nothing.")


class LineageBatchItem(BaseModel):
    index: int = Field(description="The event's position in the request, from 0.")
    status: int = Field(description="What the single POST would have answered: 200, 201, 404, 409 or 422.")
    detail: str | list[ErrorItem] | None = None
    result: LineageResult | None = None


class LineageBatchResults(BaseModel):
    results: list[LineageBatchItem]
