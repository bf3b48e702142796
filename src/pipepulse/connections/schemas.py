from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from pipepulse.schemas import JSON_INTEGER, StrictModel, Timestamp

DestinationType = Literal[
    "snowflake", "bigquery", "redshift", "databricks", "clickhouse", "postgres", "duckdb", "openlineage"
]
IntegrationType = Literal[
    "warehouse_delivery", "metadata_sync", "quality_check", "profiling", "webhook", "alert"
]
ConnectionState = Literal["pending_customer_setup", "connected", "error", "rotating", "paused"]

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RESERVED_EVENT_TYPES = frozenset({"total", "other"})
DEFAULT_EVENT_TYPES = ["evaluations", "custom_events"]
# Keys that mean someone is about to store a credential in plain JSON.
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "private_key",
        "api_key",
        "access_key",
        "secret_access_key",
        "token",
    }
)


def _check_event_types(value: list[str]) -> list[str]:
    for name in value:
        if not EVENT_TYPE.fullmatch(name):
            raise ValueError(f"event type {name!r} must match [a-z][a-z0-9_]{{0,63}}")
        if name in RESERVED_EVENT_TYPES:
            raise ValueError(f"event type {name!r} is reserved")
    if len(set(value)) != len(value):
        raise ValueError("event types must be unique")
    return value


def _secret_keys(value: Any, path: str = "config") -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            here = f"{path}.{key}"
            if str(key).lower() in SECRET_KEYS or str(key).lower().endswith(("_password", "_secret")):
                found.append(here)
            found.extend(_secret_keys(inner, here))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found.extend(_secret_keys(inner, f"{path}[{i}]"))
    return found


# A connection's config is a handful of settings; anything larger is a mistake (or an attack
# on storage), and every read of the connection would carry it.
MAX_CONFIG_BYTES = 16 * 1024


def _check_config(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace"))
    if size > MAX_CONFIG_BYTES:
        raise ValueError(
            f"config is {size} bytes as compact JSON; at most {MAX_CONFIG_BYTES} (16 KB) is kept: "
            "store large settings in the loader's own configuration"
        )
    secret = _secret_keys(value)
    if secret:
        raise ValueError(
            f"config is stored in plain text and must not hold secrets ({', '.join(secret)}); "
            "keep credentials in the loader's secret store"
        )
    return value


EventTypes = Annotated[
    list[str],
    Field(
        min_length=1,
        max_length=50,
        # What _check_event_types enforces, stated for clients (its messages say more than a pattern's).
        json_schema_extra={
            "uniqueItems": True,
            "items": {
                "type": "string",
                "pattern": EVENT_TYPE.pattern,
                "not": {"enum": sorted(RESERVED_EVENT_TYPES)},
            },
        },
    ),
    AfterValidator(_check_event_types),
]
Config = Annotated[dict[str, Any], AfterValidator(_check_config)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ScheduleInterval = Annotated[int, Field(strict=True, ge=60, le=31 * 24 * 3600), JSON_INTEGER]
FreshnessSla = Annotated[
    int,
    Field(
        strict=True,
        ge=60,
        le=365 * 24 * 3600,
        description="Seconds without a delivery before the connection is late; "
        "null: 2 x schedule_interval_seconds + the orphan window.",
    ),
    JSON_INTEGER,
]


LineagePart = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class LineageJob(StrictModel):
    """The OpenLineage job whose run events feed a connection (SPEC §9)."""

    namespace: LineagePart
    name: LineagePart


class ConnectionCreate(StrictModel):
    name: Name
    type: DestinationType
    integration_type: IntegrationType = "warehouse_delivery"
    config: Config = Field(default_factory=dict)
    state: ConnectionState = "pending_customer_setup"
    event_types: EventTypes = Field(default_factory=lambda: list(DEFAULT_EVENT_TYPES))
    schedule_interval_seconds: ScheduleInterval = 3600
    freshness_sla_seconds: FreshnessSla | None = None
    lineage_job: LineageJob | None = Field(
        default=None, description="The OpenLineage job whose run events feed it; unique per organisation."
    )


class ConnectionUpdate(StrictModel):
    name: Name | None = None
    type: DestinationType | None = None
    integration_type: IntegrationType | None = None
    config: Config | None = None
    state: ConnectionState | None = None
    event_types: EventTypes | None = None
    schedule_interval_seconds: ScheduleInterval | None = None
    # An explicit null goes back to the default SLA.
    freshness_sla_seconds: FreshnessSla | None = None
    # An explicit null unmaps the OpenLineage job.
    lineage_job: LineageJob | None = None


class ConnectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    organisation_id: int
    name: str
    type: str
    integration_type: str
    config: dict[str, Any]
    state: str
    event_types: list[str]
    schedule_interval_seconds: int
    freshness_sla_seconds: int | None = Field(
        description="The connection's own freshness SLA in seconds; null: the default."
    )
    lineage_job: dict[str, str] | None = Field(
        default=None,
        description="The OpenLineage job ({namespace, name}) whose run events feed it (SPEC §9).",
    )
    created_at: Timestamp
    updated_at: Timestamp
