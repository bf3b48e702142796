"""Types shared by every API schema: UTC timestamps, ids, pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

T = TypeVar("T")


# Anything outside this range is a typo or a unit mix-up, and near the ends of the calendar
# the window arithmetic itself would overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def to_utc(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = EARLIEST - timedelta(days=1)
    if not EARLIEST <= utc < LATEST:
        raise ValueError("timestamp must be between 1970-01-01 and 2200-01-01 (UTC)")
    return utc


def format_timestamp(value: datetime) -> str:
    """ISO 8601 UTC with ``Z``; sub-second digits only when there are any."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


# Input must carry a timezone (a naive time is ambiguous); output is always UTC with Z.
Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(to_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ResourceId = Annotated[str, Field(pattern=ID_PATTERN, description="[A-Za-z0-9_-]{1,64}")]


def contains_nul(value: Any) -> bool:
    """True when any string in a JSON value holds U+0000, which PostgreSQL cannot store."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if contains_nul(data):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return data


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    size: int
    total: int
    has_next: bool


class PageParams(BaseModel):
    page: int = Field(default=1, ge=1)
    size: int = Field(default=50, ge=1, le=500)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


# Integer ids above the 32-bit range cannot exist; refusing them here keeps them from
# reaching the database as an overflow.
MAX_INT_ID = 2_147_483_647

# Each API router carries the prefix itself, so a matched route knows its full path template.
API_PREFIX = "/api/v1"

CONNECTIONS_PATH = "/organisations/{organisation_pk}/integrations/warehouse-connections"
CONNECTION_PATH = CONNECTIONS_PATH + "/{connection_id}"

# Far beyond any real listing, and small enough that page * size never overflows a SQL integer.
MAX_PAGE = 1_000_000
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number.")]
PageSize = Annotated[int, Query(ge=1, le=500, description="Items per page (at most 500).")]

OrganisationPk = Annotated[int, Path(ge=1, le=MAX_INT_ID, description="The organisation's integer id.")]
ConnectionId = Annotated[str, Path(pattern=ID_PATTERN, description="The connection id, e.g. wc_….")]
RunId = Annotated[str, Path(pattern=ID_PATTERN, description="The run id.")]


class ErrorOut(BaseModel):
    """Every error but a 422: one sentence saying what went wrong and what to do."""

    detail: str


# The errors any API operation can answer besides its own (declared on every API router, so
# the OpenAPI document lists every status a client must handle).
API_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body could not be read as JSON text."},
    401: {"model": ErrorOut, "description": "No valid token or service key."},
    403: {"model": ErrorOut, "description": "The credential lacks the scope, or is the wrong kind."},
    404: {"model": ErrorOut, "description": "Not found, or not visible to this credential."},
    503: {"model": ErrorOut, "description": "The database is unavailable; retry after Retry-After seconds."},
}
