"""The dashboard's query parameters: read strictly, refused with a page that says what to use.

A value outside a parameter's choices is never guessed at (``?status=ERROR`` is not taken to
mean ``error``, nor ``?days=5`` to mean 7): the answer is a 400 page naming the parameter and
linking to each value it accepts, so a typed or stale URL is fixed in one click.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from pipepulse.errors import AppError
from pipepulse.runs.paging import KEY_SEPARATOR, RunKey
from pipepulse.schemas import ID_PATTERN

_ID = re.compile(ID_PATTERN)


class BadParameter(AppError):
    """A query value a page does not accept (400), with the values it does."""

    status_code = 400

    def __init__(
        self,
        name: str,
        detail: str,
        choices: Sequence[tuple[str, str]] = (),
        *,
        drop: Sequence[str] = (),
    ) -> None:
        super().__init__(detail)
        self.name = name
        self.choices = list(choices)  # (label, value) pairs to offer as links
        self.drop = tuple(drop) or (name,)  # what to leave out when there is no choice to offer


def choice(
    name: str, value: str | None, choices: Mapping[str, str], default: str | None = None
) -> str | None:
    """``value`` if it is one of ``choices`` (value → label), else a 400 listing them."""
    if value is None or value == "":
        return default
    if value in choices:
        return value
    listed = ", ".join(choices)
    detail = f"The value {name}={value} is not one this page accepts ({listed})."
    if value.lower() in choices:
        detail += f" Values are lower case: did you mean {name}={value.lower()}?"
    raise BadParameter(name, detail, [(label, key) for key, label in choices.items()])


def day(name: str, value: str | None) -> date | None:
    """A UTC calendar day written YYYY-MM-DD."""
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadParameter(name, f"The value {name}={value} is not a date; write it as YYYY-MM-DD.") from None


def run_key(name: str, value: str | None) -> RunKey | None:
    if value is None or value == "":
        return None
    stamp, _, run_id = value.rpartition(KEY_SEPARATOR)
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None or not _ID.match(run_id):
        raise BadParameter(
            name,
            f"The value of {name} is not a place in the runs list; follow the Newer and Older links instead.",
        )
    return at.astimezone(UTC), run_id


def runs_cursor(before: str | None, after: str | None, from_: str | None) -> tuple[str, RunKey] | None:
    """Where the runs table starts: at most one of runs_before, runs_after and runs_from."""
    given = [
        (name, value)
        for name, value in (("runs_before", before), ("runs_after", after), ("runs_from", from_))
        if value
    ]
    if len(given) > 1:
        raise BadParameter(given[1][0], "Give at most one of runs_before, runs_after and runs_from.")
    if not given:
        return None
    name, value = given[0]
    key = run_key(name, value)
    assert key is not None
    return {"runs_before": "older", "runs_after": "newer", "runs_from": "from"}[name], key


def query(params: Mapping[str, str | None], **changes: str | None) -> str:
    """``?a=1&b=2`` from ``params`` with ``changes`` applied (None drops a parameter)."""
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v is not None and v != ""}
    return "?" + urlencode(kept) if kept else "?"
