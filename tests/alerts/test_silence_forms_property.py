"""How the Alerts page reads its silence and maintenance-window fields (dashboard/silence_forms):
a matcher line means what the API's matcher of the same operator means, for any label and value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipepulse.alerts import matchers
from pipepulse.dashboard.silence_forms import (
    FormError,
    parse_duration,
    parse_instant,
    parse_matchers,
    show_matcher,
    silence_body,
)

labels = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
# Any one-line value without white space at its ends (a form field's ends are trimmed).
values = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30).filter(
    lambda v: v == v.strip()
)
ops = st.sampled_from(["=", "!=", "=~", "!~"])
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


def _valid(op: str, value: str) -> bool:
    if op == "=" and value.startswith("~"):
        return False  # "label=~x" reads as a regex; docs/alerts.md says so
    if op in ("=~", "!~"):
        try:
            matchers.parse_one("x", op + value)
        except matchers.InvalidMatcher:
            return False
    return True


@given(st.dictionaries(labels, st.tuples(ops, values), min_size=1, max_size=5))
def test_matcher_lines__any_label_op_value__mean_the_api_matcher_of_that_op(
    wanted: dict[str, tuple[str, str]],
) -> None:
    wanted = {k: v for k, v in wanted.items() if _valid(*v)}
    if not wanted:
        return
    text = "\n".join(f"{label}{op}{value}" for label, (op, value) in wanted.items())
    read = parse_matchers(text)
    got = {m.name: (m.op, m.value) for m in matchers.parse(read)}
    assert got == wanted
    # What the page lists reads back to the same matchers.
    shown = "\n".join(show_matcher(label, raw) for label, raw in read.items())
    assert {m.name: (m.op, m.value) for m in matchers.parse(parse_matchers(shown))} == wanted


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "at least one"),
        ("condition", "line 1: write label=value"),
        ("a=b\n\n=c", "line 3"),
        ("a=b\na!=c", "a is already matched"),
    ],
)
def test_matcher_lines__unreadable__say_which_line(text: str, reason: str) -> None:
    with pytest.raises(FormError, match=reason):
        parse_matchers(text)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("90", 90), ("90m", 90), ("2h", 120), ("1h30m", 90), ("1d", 1440), ("2w", 20160), (" 1H 5M ", 65)],
)
def test_duration__written_forms__read(text: str, minutes: int) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "soon", "0", "0m", "1.5h", "-5m", "400d", "h"])
def test_duration__unreadable_or_out_of_range__refused(text: str) -> None:
    with pytest.raises(FormError, match="duration"):
        parse_duration(text)


def test_instant__datetime_local_and_seconds_read_as_utc__blank_is_none() -> None:
    assert parse_instant("2026-04-21T08:00", "starts_at") == datetime(2026, 4, 21, 8, 0, tzinfo=UTC)
    assert parse_instant("2026-04-21 08:00:30", "ends_at") == datetime(2026, 4, 21, 8, 0, 30, tzinfo=UTC)
    assert parse_instant("  ", "starts_at") is None
    with pytest.raises(FormError, match="ends_at: write a UTC date"):
        parse_instant("21/04/2026", "ends_at")


def test_silence_body__duration_counts_from_the_start__blank_start_is_now() -> None:
    body = silence_body({"matchers": "condition=error", "duration": "2h"}, NOW)
    assert (body["starts_at"], body["ends_at"]) == (NOW, NOW + timedelta(hours=2))
    later = silence_body({"matchers": "a=b", "starts_at": "2026-04-21T08:00", "duration": "30m"}, NOW)
    assert later["ends_at"] == datetime(2026, 4, 21, 8, 30, tzinfo=UTC)
