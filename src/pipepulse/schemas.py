"""Types shared by every API schema: UTC timestamps, ids, pages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

T = TypeVar("T")


def json_integer(value: Any) -> Any:
    """A whole number as JSON Schema's ``integer`` has it: a JSON number with no fraction (5 or
    5.0), never a string ("5") or a boolean (true)."""
    if isinstance(value, bool):
        raise ValueError("must be a JSON integer such as 5, not a boolean")
    if isinstance(value, str):
        raise ValueError("must be a JSON integer such as 5, not a string: leave out the quotes")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# A whole number in a JSON body. With bounds, write them before it so that OpenAPI shows them:
# ``Annotated[int, Field(strict=True, ge=0), JSON_INTEGER]``.
JSON_INTEGER = BeforeValidator(json_integer)
JsonInt = Annotated[int, Field(strict=True), JSON_INTEGER]


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
    """ISO 8601 UTC with ``Z``, in whole seconds (the fraction cut off): the one rule for every
    instant the API, the CLI and the notifications show (docs/api.md, "Timestamps")."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exact_timestamp(value: datetime) -> str:
    """ISO 8601 UTC to the microsecond: for keys that must tell instants apart, never shown."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


# The one accepted text form (RFC 3339): date, "T", time to the second with up to 6 fraction
# digits, and a zone ("Z" or ±HH:MM). No epoch numbers, no date alone, no zone-less time.
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
TIMESTAMP_RULE = (
    "must be an ISO 8601 timestamp with a timezone, e.g. 2026-04-20T12:00:00Z or "
    "2026-04-20T14:00:00.5+02:00 (date, 'T', hours:minutes:seconds, optional fraction of up to "
    "6 digits, then 'Z' or ±HH:MM)"
)


def parse_timestamp(value: Any) -> Any:
    """Text in the one documented form, or a datetime from Python code; nothing else."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _TIMESTAMP.match(value + "Z"):
        raise ValueError(
            f"timestamp has no timezone; add Z (UTC) or an offset such as +02:00: {_shown(value)}"
        )
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        raise ValueError(f"timestamp {TIMESTAMP_RULE}; got {_shown(value)}")
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError:
        raise ValueError(f"timestamp is not a real date or time: {_shown(value)}") from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# Input must carry a timezone (a naive time is ambiguous); output is always UTC with Z.
Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(parse_timestamp),
    AfterValidator(to_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    # The serializer would make it a plain string in OpenAPI; clients need to know it is a time.
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": TIMESTAMP_PATTERN,
            "examples": ["2026-04-20T12:00:00Z"],
        }
    ),
]

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ResourceId = Annotated[str, Field(pattern=ID_PATTERN, description="[A-Za-z0-9_-]{1,64}")]


# U+0000 (PostgreSQL cannot store it) and lone UTF-16 surrogates: JSON's "\\ud800" escape
# parses to a str that no database, log or JSON encoder can write as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(value: Any) -> str | None:
    """What is wrong with the first string in a JSON value that cannot be stored, or None."""
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        if found is None:
            return None
        if found.group() == "\x00":
            return "text must not contain NUL (\\u0000) characters"
        return (
            f"text must be valid Unicode: a lone surrogate (\\u{ord(found.group()):04x}) is not a "
            "character; send the whole surrogate pair or the character itself"
        )
    if isinstance(value, dict):
        for key, inner in value.items():
            problem = unstorable_text(key) or unstorable_text(inner)
            if problem:
                return problem
    elif isinstance(value, list):
        for inner in value:
            problem = unstorable_text(inner)
            if problem:
                return problem
    return None


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped; every string must be
    storable text (no NUL, no lone surrogate), wherever it is in the body. Whole numbers in a
    body are declared as ``JsonInt``: ``"5"`` is not 5, ``true`` is not 1."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        problem = unstorable_text(data)
        if problem:
            raise ValueError(problem)
        return data


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    size: int
    total: int
    has_next: bool

    @classmethod
    def of(cls, items: Sequence[T], *, page: int, size: int, total: int) -> Page[T]:
        """Page ``page`` of ``size`` rows out of ``total``; ``has_next`` follows from them."""
        return cls(items=list(items), page=page, size=size, total=total, has_next=page * size < total)


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
