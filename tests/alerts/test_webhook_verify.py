"""The SDK's ``verify()`` for webhook receivers (SPEC §7.3's signature scheme)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipepulse.wire.webhook_signature import (
    InvalidWebhookSignature,
    MalformedSignatureHeader,
    WebhookSignatureError,
    signature_header,
    verify,
)

SECRET = "whsec_test-secret"
BODY = json.dumps({"id": "ntf_1", "type": "connection.late"}).encode()
NOW = 1_776_686_400


def test_verify__signed_now__returns_the_notification() -> None:
    header = signature_header(SECRET, NOW, BODY)
    assert header.startswith(f"t={NOW},v1=")
    assert verify(BODY, header, SECRET, now=NOW) == {"id": "ntf_1", "type": "connection.late"}


def test_verify__scheme__is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature_header(SECRET, NOW, BODY) == f"t={NOW},v1={expected}"


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_verify__older_than_five_minutes_or_future__refused(age: int) -> None:
    header = signature_header(SECRET, NOW - age, BODY)
    with pytest.raises(InvalidWebhookSignature, match="300 s"):
        verify(BODY, header, SECRET, now=NOW)


def test_verify__within_five_minutes__accepted() -> None:
    assert verify(BODY, signature_header(SECRET, NOW - 300, BODY), SECRET, now=NOW)["id"] == "ntf_1"


def test_verify__other_secret_or_changed_body__refused() -> None:
    header = signature_header(SECRET, NOW, BODY)
    with pytest.raises(InvalidWebhookSignature, match="does not match"):
        verify(BODY, header, "whsec_other", now=NOW)
    with pytest.raises(InvalidWebhookSignature, match="does not match"):
        verify(BODY.replace(b"late", b"fresh"), header, SECRET, now=NOW)


def test_verify__empty_secret__refused_before_anything_else() -> None:
    with pytest.raises(ValueError, match="empty"):
        verify(BODY, signature_header(SECRET, NOW, BODY), "", now=NOW)
    with pytest.raises(ValueError, match="empty"):
        signature_header("", NOW, BODY)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=abc,v1=00",
        f"t={NOW}",
        "v1=" + "0" * 64,
        f"t={NOW},v1=xyz",
        f"t={NOW},t={NOW},v1=" + "0" * 64,
    ],
)
def test_verify__malformed_header__its_own_exception(header: str) -> None:
    with pytest.raises(MalformedSignatureHeader):
        verify(BODY, header, SECRET, now=NOW)
    assert issubclass(MalformedSignatureHeader, WebhookSignatureError)


def test_verify__several_v1_one_matches__accepted() -> None:
    good = signature_header(SECRET, NOW, BODY).split(",")[1]
    header = f"t={NOW},v1={'0' * 64},{good},v0=ignored"
    assert verify(BODY, header, SECRET, now=NOW)["type"] == "connection.late"


@given(st.binary(max_size=200), st.text(min_size=1, max_size=40), st.integers(min_value=0, max_value=2**40))
def test_verify__any_body_secret_and_time__round_trips_or_says_not_json(
    body: bytes, secret: str, t: int
) -> None:
    header = signature_header(secret, t, body)
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        assert verify(body, header, secret, now=t) == parsed
    else:
        with pytest.raises(InvalidWebhookSignature):
            verify(body, header, secret, now=t)
