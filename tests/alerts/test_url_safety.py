"""SPEC §7.5 URL safety: every encoding of a non-public address is refused, IPv6 forms that
embed an IPv4 address included; and error texts lose only whole secret values."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.delivery import sender, urls
from tests.alerts.world import channels_url
from tests.conftest import EXAMPLES, FrozenClock, Tenant

REFUSED = [
    "http://[::7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://[::ffff:0:7f00:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://224.0.0.1/",
    "http://0.0.0.0/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
]


@pytest.fixture
def app(settings: Settings, db: Database, clock: FrozenClock) -> Any:
    """The default settings: private URLs are not allowed."""
    return create_app(settings, clock=clock, database=db)


@pytest.mark.parametrize("url", REFUSED)
async def test_channel_create__address_that_is_not_public_in_any_form__422(
    client: httpx.AsyncClient, tenant: Tenant, url: str
) -> None:
    response = await client.post(
        channels_url(tenant), json={"name": "x", "kind": "webhook", "url": url}, headers=tenant.write
    )
    assert response.status_code == 422, response.text
    assert "public internet" in response.text


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"]
)
def test_non_public_kind__public_address_in_any_form__accepted(address: str) -> None:
    assert urls.non_public_kind(ipaddress.ip_address(address)) is None


NON_PUBLIC_V4 = [
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/29",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]
NON_PUBLIC_V6 = [
    ipaddress.IPv6Network(n) for n in ("::1/128", "fe80::/10", "fc00::/7", "fec0::/10", "ff00::/8")
]


@st.composite
def non_public_hosts(draw: st.DrawFn) -> str:
    """A URL host naming a non-public address, in one of the forms a URL may spell it."""
    if draw(st.booleans()):
        net6 = draw(st.sampled_from(NON_PUBLIC_V6))
        v6 = ipaddress.IPv6Address(int(net6.network_address) + draw(st.integers(0, net6.num_addresses - 1)))
        return f"[{v6}]"
    net = draw(st.sampled_from(NON_PUBLIC_V4))
    v4 = ipaddress.IPv4Address(int(net.network_address) + draw(st.integers(0, net.num_addresses - 1)))
    n = int(v4)
    form = draw(
        st.sampled_from(["dotted", "decimal", "hex", "mapped", "compatible", "translated", "nat64", "6to4"])
    )
    if form == "dotted":
        return str(v4)
    if form == "decimal":
        return str(n)
    if form == "hex":
        return hex(n)
    if form == "mapped":
        return f"[::ffff:{v4}]"
    if form == "compatible":
        return f"[{ipaddress.IPv6Address(n)}]" if n > 1 else f"[::{v4}]"
    if form == "translated":
        return f"[{ipaddress.IPv6Address((0xFFFF << 32) | n)}]"
    if form == "nat64":
        return f"[{ipaddress.IPv6Address((0x64FF9B << 96) | n)}]"
    subnet = draw(st.integers(0, 0xFFFF))
    interface = draw(st.integers(0, 2**64 - 1))
    return f"[{ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | (subnet << 64) | interface)}]"


@examples(max_examples=EXAMPLES, deadline=None)
@given(host=non_public_hosts(), scheme=st.sampled_from(["http", "https"]))
async def test_check__any_encoding_of_a_non_public_address__refused(host: str, scheme: str) -> None:
    with pytest.raises(urls.UnsafeURL, match="public internet"):
        await urls.check(f"{scheme}://{host}/hook", allow_private=False)


def test_scrub__short_user_name__only_whole_values_replaced() -> None:
    text = '{"user-agent": "pipepulse-alerts/1", "who": "u", "said": "x u:pw y"}'
    scrubbed = sender.scrub(text, "https://u:pw@hooks.example.com/p/secret-path?k=v")
    assert '"user-agent": "pipepulse-alerts/1"' in scrubbed
    assert '"who": "…"' in scrubbed
    assert "x …:… y" in scrubbed


def test_scrub__basic_credentials_echoed_as_base64__replaced() -> None:
    echoed = "Authorization: Basic " + base64.b64encode(b"admin:hunter2-long").decode()
    scrubbed = sender.scrub(f"HTTP 401: you sent {echoed}", "https://admin:hunter2-long@hooks.example.com/x")
    assert "hunter2" not in scrubbed
    assert base64.b64encode(b"admin:hunter2-long").decode() not in scrubbed
    assert scrubbed == "HTTP 401: you sent Authorization: Basic …"


def test_scrub__path_and_query__replaced_where_they_stand() -> None:
    url = "https://hooks.example.com/services/T0/B0/tok?sig=abc123"
    scrubbed = sender.scrub(f"POST {url} failed; tok=/services/T0/B0/tok and sig=abc123", url)
    assert "T0/B0" not in scrubbed
    assert "abc123" not in scrubbed
