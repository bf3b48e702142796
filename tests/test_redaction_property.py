"""Secrets in text (SPEC §4.1: secrets never reach logs or error messages), property-tested.

Generated user-info — reserved characters ``@ : / % # ?``, percent-encoding, unicode, empty
parts — in every URL form the redaction handles, secret query parameters, and credentials echoed
back as base64 (``Authorization: Basic …``) or as bearer tokens. The output must be exactly the
input with each secret replaced by ``***``: no part of a secret is left, nothing else changed.
"""

from __future__ import annotations

import base64
import logging
import sys
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pipepulse import redaction
from pipepulse.redaction import MASK, redact_record, redact_text, redact_url

RESERVED = "@:/%#?"
# Where text cannot say a URL ends: whitespace, quotes, angle brackets and backticks end it.
TERMINATORS = "'\"<>`"
unicode_char = st.characters(categories=["L", "N", "P", "S", "M"], exclude_characters=TERMINATORS)
secret = st.text(alphabet=st.one_of(st.sampled_from(RESERVED), unicode_char), min_size=1, max_size=24)
# A user name is not a secret; one with reserved characters is percent-encoded (or empty).
user = st.one_of(
    st.just(""),
    st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=12),
    secret.map(lambda s: quote(s, safe="")),
)

# (before the user-info, after it): every URL form the service shows.
FORMS = [
    ("https://", "loader.example:8443/a/b?region=eu#top"),
    ("https://", "loader.example"),
    ("postgresql+psycopg://", "db.internal:5432/pipepulse"),
    ("postgresql://", "db/pp?sslmode=require"),
    ("s3://", "bucket/prefix/key.parquet"),
    ("http://", "[::1]:8080/run"),
    ("mysql://", "10.0.0.7/warehouse"),
]
TEXTS = [
    ("", ""),
    ("loader invocation failed: ConnectError at ", " (retrying in 30s)"),
    ("error: could not reach '", "': timed out"),
    ('{"url": "', '", "status": 502}'),
]


def raw_password_ok(password: str) -> bool:
    """The one form redaction cannot recognise (docs/testing.md): a raw ``/``, ``?`` or ``#``
    after ASCII digits (after the last ``:``, no ``@`` before), which reads as a host and port."""
    cut = min((password.index(c) for c in "/?#" if c in password), default=None)
    if cut is None or "@" in password[:cut]:
        return True
    port = password[:cut].rpartition(":")[2]
    return not (port.isascii() and port.isdigit())


@given(
    user=user,
    password=secret,
    encoded=st.booleans(),
    form=st.sampled_from(FORMS),
    around=st.sampled_from(TEXTS),
)
def test_redact_text__generated_user_info_in_every_url_form__only_the_password_masked(
    user: str, password: str, encoded: bool, form: tuple[str, str], around: tuple[str, str]
) -> None:
    shown_password = quote(password, safe="") if encoded else password
    assume(encoded or raw_password_ok(password))
    scheme, rest = form
    before, after = around
    text = f"{before}{scheme}{user}:{shown_password}@{rest}{after}"
    assert redact_text(text) == f"{before}{scheme}{user}:{MASK}@{rest}{after}"


@given(
    token=st.text(alphabet="ABCDEFabcdef0123456789_-.", min_size=16, max_size=60), form=st.sampled_from(FORMS)
)
def test_redact_url__bare_token_as_user_info__masked(token: str, form: tuple[str, str]) -> None:
    scheme, rest = form
    assert redact_url(f"{scheme}{token}@{rest}") == f"{scheme}{MASK}@{rest}"


@given(
    value=secret,
    encoded=st.booleans(),
    name=st.sampled_from(["token", "access_token", "api_key", "X-Amz-Signature", "password", "sig", "code"]),
    other=st.text(alphabet=st.characters(categories=["L", "N"]), max_size=8),
)
def test_redact_url__secret_query_parameter__value_masked_every_other_byte_kept(
    value: str, encoded: bool, name: str, other: str
) -> None:
    # Unencoded, "&" and "#" would end the value; the query keeps every other character raw.
    shown = quote(value, safe="") if encoded else value.replace("#", "%23").replace("&", "%26")
    url = f"https://hooks.example/x/y%2Fz?page=2&{name}={shown}&q=a/b:c@d%20e&other={other}#frag"
    assert (
        redact_url(url)
        == f"https://hooks.example/x/y%2Fz?page=2&{name}={MASK}&q=a/b:c@d%20e&other={other}#frag"
    )


@given(
    user=st.text(min_size=0, max_size=16).filter(lambda u: ":" not in u),
    password=st.text(min_size=1, max_size=24),
)
def test_redact_text__basic_credential_echoed_as_base64__masked(user: str, password: str) -> None:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    text = f"upstream answered 401 to 'Authorization: Basic {encoded}' at https://loader.example/run"
    shown = redact_text(text)
    assert shown == f"upstream answered 401 to 'Authorization: Basic {MASK}' at https://loader.example/run"
    assert encoded not in shown


@given(
    token=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/",
        min_size=16,
        max_size=80,
    )
)
def test_redact_text__bearer_token_echoed__masked(token: str) -> None:
    text = f"request headers: {{'authorization': 'Bearer {token}'}} refused"
    assert redact_text(text) == f"request headers: {{'authorization': 'Bearer {MASK}'}} refused"


@pytest.mark.parametrize(
    "text",
    [
        "Basic authentication is not enabled on this warehouse",
        "Bearer tokens expire after 1h",
        "https://host.example:8080/a?email=me@example.com",
        "https://[::1]/users/@alice",
        "https://example.com/run?page=2&region=eu/west",
        "no URL here at all: a:b@c",
    ],
)
def test_redact_text__nothing_secret__unchanged(text: str) -> None:
    assert redact_text(text) == text


@given(password=secret, encoded=st.booleans())
def test_log_record__password_in_message_and_args__masked(password: str, encoded: bool) -> None:
    shown = quote(password, safe="") if encoded else password
    assume(encoded or raw_password_ok(password))
    url = f"postgresql://app:{shown}@db:5432/pp"
    record = logging.LogRecord("pipepulse", logging.ERROR, __file__, 1, "cannot reach %s", (url,), None)
    redact_record(record)
    assert record.getMessage() == f"cannot reach postgresql://app:{MASK}@db:5432/pp"


def test_log_record__arguments_without_secrets__kept_as_they_were() -> None:
    record = logging.LogRecord(
        "pipepulse",
        logging.INFO,
        __file__,
        1,
        "%d runs in %.1f s at %s",
        (5, 2.25, "https://a.example/x"),
        None,
    )
    redact_record(record)
    assert record.args == (5, 2.25, "https://a.example/x")
    assert record.getMessage() == "5 runs in 2.2 s at https://a.example/x"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # A password holding raw "@" and "/": the userinfo runs to the last "@".
        ("https://u:p@a/ss@host/", f"https://u:{MASK}@host/"),
        ("https://u:p@1/x@host/", f"https://u:{MASK}@host/"),
        # Secrets before fidelity: "h:1" may be part of the password, so it goes with it.
        ("https://u:p@h:1/x@host/", f"https://u:{MASK}@host/"),
        ("https://u@a:b@c/x@host/", f"https://u@a:{MASK}@host/"),
        # A password holding ":" keeps only the user name before the first ":".
        ("https://u:p:q/r@host/", f"https://u:{MASK}@host/"),
        ("https://u:p:q[x@host/", f"https://u:{MASK}@host/"),
        # Another URL later in the query does not move where this one's authority is read.
        ("https://u:pa/ss@host/cb?next=https://other/", f"https://u:{MASK}@host/cb?next=https://other/"),
        ("https://u:pa[ss@host/?r=https://x", f"https://u:{MASK}@host/?r=https://x"),
        ("https://u:p@a[b@host/", f"https://u:{MASK}@host/"),
        # Tabs and line breaks (which URL parsing drops) inside a password hide nothing.
        ("https://u:\tp/ss@host", f"https://u:{MASK}@host"),
        ("https://u:\np/ss@host/x", f"https://u:{MASK}@host/x"),
        ("https://u:\rp/ss@host", f"https://u:{MASK}@host"),
        # … and, as URL parsing does, they are dropped wherever they are.
        ("https://me@ho\rst/a\tb?c=\nd", "https://me@host/ab?c=d"),
        ("https://u:pw@ho\r\nst/", f"https://u:{MASK}@host/"),
        # No password: a short user name is kept, a long one is taken for a token.
        ("https://me@host/", "https://me@host/"),
        ("https://me@host:8443/path?email=a@b.example", "https://me@host:8443/path?email=a@b.example"),
        ("https://db:5432:5433/x?to=me@example.com", "https://db:5432:5433/x?to=me@example.com"),
        ("https://aaaaaaaaaaaaaaaa@host/", f"https://{MASK}@host/"),
    ],
)
def test_redact_url__reserved_characters_in_the_authority__password_hidden_whole(
    url: str, shown: str
) -> None:
    assert redact_url(url) == shown


def test_redact_text__basic_word_not_base64__kept() -> None:
    # RFC 7617: a Basic credential is base64 of user:password; "." is not in its alphabet, so
    # this is text, even though dropping the "." would decode to "user:pass".
    assert redact_text("Basic dXNlcjpw.YXNz rejected") == "Basic dXNlcjpw.YXNz rejected"


def test_log_record__traceback__redacted_and_otherwise_as_logging_prints_it() -> None:
    formatter = logging.Formatter()
    for ending in (" ", "X"):
        try:
            raise ConnectionError(f"cannot reach https://u:hunter2@db.example/x{ending}")
        except ConnectionError:
            exc_info = sys.exc_info()
        record = logging.LogRecord("pipepulse", logging.ERROR, __file__, 1, "failed", (), exc_info)
        redact_record(record)
        expected = formatter.formatException(exc_info).replace("hunter2", MASK)
        assert record.exc_text == expected
        assert formatter.format(record).endswith(f"cannot reach https://u:{MASK}@db.example/x{ending}")


def test_install_log_redaction__every_logger_once__records_made_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = logging.getLogRecordFactory()
    monkeypatch.setattr(redaction, "_installed", False)
    try:
        redaction.install_log_redaction()
        installed = logging.getLogRecordFactory()
        redaction.install_log_redaction()
        assert logging.getLogRecordFactory() is installed  # not wrapped a second time
        record = logging.getLogger("any.library").makeRecord(
            "any.library", logging.WARNING, __file__, 7, "reach %s", ("https://u:hunter2@h/",), None
        )
        assert (record.name, record.levelno, record.lineno) == ("any.library", logging.WARNING, 7)
        assert record.getMessage() == f"reach https://u:{MASK}@h/"
        # The factory takes LogRecord's own keywords too, not only the positions logging uses.
        by_name = logging.getLogRecordFactory()(
            name="x",
            level=logging.INFO,
            pathname=__file__,
            lineno=1,
            msg="at https://u:pw@h/",
            args=(),
            exc_info=None,
        )
        assert by_name.getMessage() == f"at https://u:{MASK}@h/"
    finally:
        logging.setLogRecordFactory(original)
