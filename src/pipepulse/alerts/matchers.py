"""Label matchers (SPEC §7.4), as Alertmanager's: ``=``, ``!=``, ``=~``, ``!~``.

Silences and maintenance windows carry ``{"label": "value", …}``. A plain value is an equality;
a value may start with an operator: ``"!=value"``, ``"=~regex"``, ``"!~regex"`` (``"=value"``
is an explicit equality, so a value that itself begins with ``!`` or ``=`` can be written).
As in Alertmanager, a regular expression is anchored at both ends, a label the alert lacks
reads as the empty string, and an alert matches a set of matchers when it matches every one.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Op = Literal["=", "!=", "=~", "!~"]
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class InvalidMatcher(ValueError):
    """A matcher that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found


def parse_one(name: str, raw: str) -> Matcher:
    if not LABEL.fullmatch(name):
        raise InvalidMatcher(f"matcher label {name!r} is not a label name (letters, digits and _)")
    op: Op = "="
    value = raw
    for prefix in ("=~", "!~", "!=", "="):
        if raw.startswith(prefix):
            op, value = prefix, raw[len(prefix) :]
            break
    pattern = None
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise InvalidMatcher(f"matcher {name!r}: {value!r} is not a regular expression ({exc})") from None
    return Matcher(name, op, value, pattern)


def parse(matchers: Mapping[str, str]) -> list[Matcher]:
    """Every matcher of a ``{label: value}`` object; raises :class:`InvalidMatcher`."""
    if not matchers:
        raise InvalidMatcher("matchers must name at least one label (an empty set would match every alert)")
    return [parse_one(name, raw) for name, raw in matchers.items()]


def matches(matchers: Mapping[str, str] | list[Matcher], labels: Mapping[str, str]) -> bool:
    parsed = parse(matchers) if isinstance(matchers, Mapping) else matchers
    return all(m.matches(labels) for m in parsed)
