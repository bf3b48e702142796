"""Bulk metrics (SPEC §4.3, reference 004): many connections at once, filtered, sorted, paged.

Every visible connection matching the filters is measured in a handful of batched queries
(never one query per connection), then filtered by status, sorted and cut into a page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth.principals import UserPrincipal
from pipepulse.connections import repository as connections_repository
from pipepulse.db.session import Database
from pipepulse.errors import Invalid
from pipepulse.metrics import service as metrics
from pipepulse.metrics import stored
from pipepulse.metrics.service import MetricsQuery
from pipepulse.metrics.values import SCALAR_METRICS, MetricValues
from pipepulse.rules import Status, Thresholds, severity
from pipepulse.schemas import ID_PATTERN, MAX_INT_ID

MAX_IDS = 5_000
SORT_KEYS: tuple[str, ...] = ("name", "id", *SCALAR_METRICS)
SortDir = Literal["asc", "desc"]


def parse_ids(value: str | Sequence[str] | None) -> list[str] | None:
    """Connection ids from ``a,b,c`` or a JSON array; None when not given."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    ids = [str(item).strip() for item in items if str(item).strip()]
    bad = [i for i in ids if not re.fullmatch(ID_PATTERN, i)]
    if bad:
        raise Invalid(f"malformed connection id(s) {bad[:5]}: ids match [A-Za-z0-9_-]{{1,64}}", loc=("ids",))
    if len(ids) > MAX_IDS:
        raise Invalid(f"at most {MAX_IDS} ids per request, got {len(ids)}", loc=("ids",))
    return list(dict.fromkeys(ids))


def parse_tenant_ids(value: str | Sequence[int | str] | None) -> list[int] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if isinstance(item, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_INT_ID:
            raise Invalid(
                f"tenant id {text!r} is not an organisation id (an integer from 1 to {MAX_INT_ID})",
                loc=("tenant_ids",),
            )
        out.append(int(text))
    if len(out) > MAX_IDS:
        raise Invalid(f"at most {MAX_IDS} tenant ids per request, got {len(out)}", loc=("tenant_ids",))
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class BulkQuery:
    metrics: MetricsQuery
    ids: list[str] | None
    tenant_ids: list[int] | None
    page: int
    size: int
    cursor: str | None
    sort: str
    sort_dir: SortDir
    status: Status | None

    def __post_init__(self) -> None:
        if self.sort not in SORT_KEYS:
            raise Invalid(
                f"cannot sort by {self.sort!r}: sort by one of {', '.join(SORT_KEYS)}", loc=("query", "sort")
            )

    def fingerprint(self) -> str:
        """What a cursor is tied to: a cursor from another query is refused, not misapplied."""
        key = [self.ids, self.tenant_ids, self.sort, self.sort_dir, self.status, self.metrics.time_type]
        return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


def encode_cursor(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        offset, owner = body["o"], body["f"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise Invalid(
            "malformed cursor: pass next_cursor from a previous answer", loc=("query", "from")
        ) from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise Invalid("malformed cursor: pass next_cursor from a previous answer", loc=("query", "from"))
    if owner != fingerprint:
        raise Invalid(
            "this cursor belongs to a different query (ids, tenant_ids, sort, sort_dir, status or time_type "
            "changed); start again without 'from'",
            loc=("query", "from"),
        )
    return offset


def _sort_key(value: Any, metric: str) -> Any:
    # Status sorts by severity, not alphabetically: ascending puts healthy pipelines first.
    if metric == "status":
        return severity(value)
    return value


class BulkRow(TypedDict):
    id: str
    organisation_id: int
    name: str
    data: MetricValues


def order(rows: list[BulkRow], sort: str, sort_dir: SortDir) -> list[BulkRow]:
    """Sort by one field; nulls last in either direction, ties by id ascending."""

    def value(row: BulkRow) -> Any:
        return row["data"][sort] if sort in SCALAR_METRICS else row[sort]  # type: ignore[literal-required]

    rows = sorted(rows, key=lambda r: r["id"])
    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    present.sort(key=lambda r: _sort_key(value(r), sort), reverse=sort_dir == "desc")
    return present + missing


@dataclass(frozen=True)
class BulkPage:
    result: list[BulkRow]
    page: int
    size: int
    total: int
    has_next: bool
    next_cursor: str | None


async def bulk_metrics(
    session: AsyncSession,
    database: Database,
    principal: UserPrincipal,
    query: BulkQuery,
    now: datetime,
    thresholds: Thresholds,
) -> BulkPage:
    offset = (query.page - 1) * query.size
    if query.cursor is not None:
        offset = decode_cursor(query.cursor, query.fingerprint())
    refs = await connections_repository.refs(
        session, organisation_id=principal.organisation_id, ids=query.ids, tenant_ids=query.tenant_ids
    )
    if query.metrics.time_type == "timesummary":
        data = await metrics.summary_values_for(session, refs, query.metrics, now, thresholds)
    else:
        data = await stored.latest_values(session, database, refs, query.metrics, now, thresholds)
    rows = [BulkRow(id=r.id, organisation_id=r.organisation_id, name=r.name, data=data[r.id]) for r in refs]
    if query.status is not None:
        rows = [r for r in rows if r["data"]["status"] == query.status]
    rows = order(rows, query.sort, query.sort_dir)
    total = len(rows)
    page_rows = rows[offset : offset + query.size]
    has_next = offset + query.size < total
    return BulkPage(
        result=page_rows,
        page=offset // query.size + 1,
        size=query.size,
        total=total,
        has_next=has_next,
        next_cursor=encode_cursor(offset + query.size, query.fingerprint()) if has_next else None,
    )
