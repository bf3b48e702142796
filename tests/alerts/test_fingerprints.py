"""Error fingerprints: one template, one fingerprint, whatever its volatile parts say."""

from __future__ import annotations

import string
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from pipepulse.alerts import fingerprints
from pipepulse.alerts.fingerprints import fingerprint_of, of_run, template

WORDS = st.text(alphabet=string.ascii_lowercase, min_size=3, max_size=9)
SLOTS = ("number", "uuid", "hex", "timestamp", "quoted", "path", "host", "url", "id", "duration")

_LOW = string.ascii_lowercase
_ALNUM = string.ascii_lowercase + string.digits


@st.composite
def fill(draw: st.DrawFn, slot: str) -> str:
    if slot == "number":
        return str(draw(st.integers(min_value=0, max_value=10**12)))
    if slot == "duration":
        return f"{draw(st.integers(0, 99999))}.{draw(st.integers(0, 99))}ms"
    if slot == "uuid":
        return str(draw(st.uuids()))
    if slot == "hex":
        digits = draw(st.text(alphabet="0123456789abcdef", min_size=7, max_size=40))
        return "0x" + digits + draw(st.sampled_from("0123456789")) + "f"
    if slot == "timestamp":
        naive = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1))  # noqa: DTZ001
        moment = draw(naive)
        form = draw(st.sampled_from(["iso", "z", "space", "time"]))
        if form == "iso":
            return moment.replace(tzinfo=UTC).isoformat()
        if form == "z":
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        if form == "space":
            return moment.strftime("%Y-%m-%d %H:%M:%S")
        return moment.strftime("%H:%M:%S")
    if slot == "quoted":
        quote = draw(st.sampled_from(["'", '"', "`"]))
        inner = draw(
            st.text(alphabet=st.characters(blacklist_characters=f"{quote}\n\r", codec="utf-8"), max_size=30)
        )
        return f"{quote}{inner}{quote}"
    if slot == "path":
        parts = draw(
            st.lists(st.text(alphabet=_ALNUM + "_.-", min_size=1, max_size=8), min_size=1, max_size=5)
        )
        return "/" + "/".join(parts)
    if slot == "host":
        labels = draw(st.lists(st.text(alphabet=_ALNUM, min_size=1, max_size=8), min_size=1, max_size=3))
        return ".".join([*labels, draw(st.text(alphabet=_LOW, min_size=2, max_size=6))])
    if slot == "url":
        host = draw(fill("host"))
        path = draw(st.text(alphabet=_ALNUM + "/_-", max_size=20))
        query = draw(st.text(alphabet=_ALNUM + "=&", max_size=10))
        return f"{draw(st.sampled_from(['https', 'http', 's3', 'postgresql']))}://{host}/{path}" + (
            f"?{query}" if query else ""
        )
    assert slot == "id"
    head = draw(st.text(alphabet=_LOW, min_size=1, max_size=6))
    joint = draw(st.sampled_from(["_", "-", ""]))
    return f"{head}{joint}{draw(st.integers(0, 10**9))}{draw(st.text(alphabet=_ALNUM, max_size=6))}"


Part = tuple[str, str]  # ("word", text) or ("slot", kind)
TEMPLATES = st.lists(
    st.one_of(st.tuples(st.just("word"), WORDS), st.tuples(st.just("slot"), st.sampled_from(SLOTS))),
    min_size=1,
    max_size=10,
).filter(lambda parts: any(kind == "word" for kind, _ in parts))


@st.composite
def message(draw: st.DrawFn, parts: list[Part]) -> str:
    return " ".join(text if kind == "word" else draw(fill(text)) for kind, text in parts)


@settings(max_examples=300)
@given(data=st.data(), parts=TEMPLATES)
def test_fingerprint__one_template_filled_twice__same_fingerprint(
    data: st.DataObject, parts: list[Part]
) -> None:
    first = data.draw(message(parts))
    second = data.draw(message(parts))
    assert template(first) == template(second), (first, second)
    assert of_run("failed", first) == of_run("failed", second)


@settings(max_examples=300)
@given(data=st.data(), one=TEMPLATES, other=TEMPLATES)
def test_fingerprint__different_words__different_fingerprint(
    data: st.DataObject, one: list[Part], other: list[Part]
) -> None:
    words = [text for kind, text in one if kind == "word"]
    if [text for kind, text in other if kind == "word"] == words:
        return
    first, second = data.draw(message(one)), data.draw(message(other))
    assert of_run("failed", first) != of_run("failed", second), (first, second)


def test_fingerprint__spec_example__hosts_and_durations_share_one() -> None:
    a = of_run("failed", "connection refused to db-7.internal:5432 after 30012 ms")
    b = of_run("failed", "connection refused to db-9.internal:5432 after 30001 ms")
    assert a == b
    assert a is not None
    assert a[1] == "connection refused to <host>:<n> after <n> ms"


def test_fingerprint__partial_and_orphan__fixed_names() -> None:
    assert of_run("partial", None) == ("dead_letter", "events went to the dead-letter queue")
    assert of_run("orphaned", None) == ("orphaned", "the run never reported its end")
    assert of_run("success", None) is None
    assert of_run("failed", None) == (fingerprint_of("run failed"), fingerprints.FAILED_WITHOUT_ERROR)


def test_fingerprint__volatile_parts__each_replaced() -> None:
    assert template("HTTP 503 from https://user@api.example.com/v1/x?y=1 at 2026-12-05T10:00:01Z") == (
        "HTTP <n> from <url> at <ts>"
    )
    assert template("file /var/lib/x/y.csv not found") == "file <path> not found"
    assert (
        template("run 0f3a9b2c11d4 of job 123e4567-e89b-12d3-a456-426614174000 failed")
        == "run <id> of job <uuid> failed"
    )
    assert template('relation "public.orders" does not exist') == "relation <q> does not exist"
    assert template("checksum 0xdeadbeef mismatch at 10.0.0.1") == "checksum <hex> mismatch at <host>"
    assert template("timeout   after 12.5s") == "timeout after <n>s"


def test_fingerprint__known_answer__sha256_of_the_template_cut_to_16_hex_digits() -> None:
    # Alerts are grouped by this label: it must read the same in every version, so a group
    # formed before an upgrade goes on collecting the same error after it.
    assert of_run("failed", "connection refused to db-7.internal:5432 after 30012 ms") == (
        "387b3403127e0339",
        "connection refused to <host>:<n> after <n> ms",
    )
    assert of_run("failed", "   ") == (fingerprint_of("run failed"), "run failed")
    assert fingerprint_of("run failed") == "732e21ff6335f21f"
