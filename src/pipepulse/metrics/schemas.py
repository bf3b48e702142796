from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, get_args, get_type_hints

from pydantic import BaseModel, Field, create_model

from pipepulse.metrics.buckets import TimeUnit
from pipepulse.metrics.service import TimeType
from pipepulse.metrics.values import METRICS, MetricValues
from pipepulse.rollups.plan import Precision
from pipepulse.schemas import JsonInt, StrictModel, Timestamp


def _value_types() -> dict[str, Any]:
    """Each metric's value type, from the one metric table; times are ISO 8601 timestamps."""
    out: dict[str, Any] = {}
    for name, hint in get_type_hints(MetricValues, include_extras=True).items():
        base = get_args(hint)[0]
        out[name] = Timestamp | None if base == datetime | None else base
    return out


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _describe(name: str) -> str:
    metric = METRICS[name]
    return f"{metric.title} ({metric.unit})."


def _values_model() -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (kind, Field(description=_describe(name))) for name, kind in _value_types().items()
    }
    return create_model(
        "MetricValues",
        __doc__="Every metric's value at an instant (latest) or over the range (timesummary).",
        **fields,
    )


def _series_model() -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name, kind in _value_types().items():
        metric = METRICS[name]
        value = int if metric.kind == "breakdown" else kind
        point = create_model(
            f"{_camel(name)}Point",
            __doc__=f"One bucket of {metric.title.lower()}: the bucket's start and its value.",
            timestamp=(Timestamp, Field(description="The bucket's start (UTC).")),
            value=(value, ...),
        )
        series: Any = dict[str, list[point]] if metric.kind == "breakdown" else list[point]
        fields[name] = (series, Field(description=_describe(name)))
    return create_model(
        "MetricSeries",
        __doc__="Each metric as one point per bucket (a breakdown: one such list per event type).",
        **fields,
    )


class MetricInfo(BaseModel):
    name: str = Field(description="The metric's display name.")
    unit: str


def _metadata_model() -> type[BaseModel]:
    fields: dict[str, Any] = dict.fromkeys(METRICS, (MetricInfo, ...))
    return create_model("MetricsMetadata", __doc__="Each metric's display name and unit.", **fields)


# Built from the metric table, so a metric added there is documented with its type at once.
if TYPE_CHECKING:
    MetricValuesModel = BaseModel
    MetricSeriesModel = BaseModel
    MetricsMetadataModel = BaseModel
else:
    MetricValuesModel = _values_model()
    MetricSeriesModel = _series_model()
    MetricsMetadataModel = _metadata_model()


class MetricsAnswer(BaseModel):
    """Reference 002's shape: ``data`` and ``metadata``, plus the resolved query and ``as_of``."""

    data: MetricValuesModel | MetricSeriesModel = Field(
        description="Each metric's value (latest, timesummary) or series (timeseries)."
    )
    metadata: MetricsMetadataModel = Field(description="Each metric's display name and unit.")
    time_type: TimeType
    time_interval: int
    time_unit: TimeUnit
    timestamp_from: Timestamp
    timestamp_to: Timestamp
    as_of: Timestamp = Field(description="The instant the answer was computed at.")
    precision: Precision = Field(
        description="'exact' inside raw run retention; 'hour' when the range starts before it: its edges "
        "were moved back to the start of their hour and the hourly rollups answered (docs/metrics-api.md)."
    )
    counted_from: Timestamp = Field(description="The start of the range actually counted (inclusive).")
    counted_to: Timestamp = Field(description="The end of the range actually counted (exclusive).")


class BulkItem(BaseModel):
    id: str
    organisation_id: int
    name: str
    data: MetricValuesModel


class BulkAnswer(BaseModel):
    result: list[BulkItem]
    metadata: MetricsMetadataModel
    page: int
    size: int
    total: int = Field(description="Connections matching the filters that this token may see.")
    has_next: bool
    next_cursor: str | None = Field(description="Pass as 'from' for the next page; null on the last.")
    time_type: TimeType
    timestamp_from: Timestamp
    timestamp_to: Timestamp
    as_of: Timestamp
    precision: Precision = Field(
        description="'exact' inside raw run retention; 'hour' when the range starts before it: its edges "
        "were moved back to the start of their hour and the hourly rollups answered (docs/metrics-api.md)."
    )
    counted_from: Timestamp = Field(description="The start of the range actually counted (inclusive).")
    counted_to: Timestamp = Field(description="The end of the range actually counted (exclusive).")


class BulkBody(StrictModel):
    """Large id lists that would not fit a URL; these win over the query parameters."""

    ids: list[str] | str | None = Field(default=None, description="Connection ids: array or 'a,b,c'.")
    tenant_ids: list[JsonInt] | str | None = Field(
        default=None, description="Organisation ids: array or '1,2,3'."
    )
