"""The one-row lookup every resource repeats: the row, or 404 saying what was not found.

Repositories answer None for a row that is missing or another organisation's (they filter by
the organisation), so the two are one answer: a tenant cannot tell another's ids from typos.
"""

from __future__ import annotations

from typing import TypeVar

from pipepulse.errors import NotFound

T = TypeVar("T")


def found_or_404(row: T | None, message: str) -> T:
    """``row``, or :class:`NotFound` with ``message`` when there is none."""
    if row is None:
        raise NotFound(message)
    return row
