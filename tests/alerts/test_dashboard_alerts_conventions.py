"""The Alerts page follows the dashboard's conventions: error pages keep the signed-in header,
and times carry UTC (the script may show them in local time)."""

from __future__ import annotations

import re

import httpx

from tests.alerts.receiver import Receiver
from tests.alerts.world import add_channel
from tests.conftest import Tenant

ORIGIN = {"Origin": "http://pipepulse.test"}


async def sign_in(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post("/sign-in", data={"token": token})
    assert response.status_code == 303, response.text


async def test_alerts_page__refused_change__error_page_keeps_the_signed_in_header(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await sign_in(client, tenant.reader)

    forbidden = await client.post(f"/orgs/{tenant.id}/alerts/rules", data={}, headers=ORIGIN)
    elsewhere = await client.post(f"/orgs/{other_tenant.id}/alerts/rules", data={}, headers=ORIGIN)
    cross_site = await client.post(
        f"/orgs/{tenant.id}/alerts/rules", data={}, headers={"Origin": "https://evil"}
    )

    assert (forbidden.status_code, elsewhere.status_code, cross_site.status_code) == (403, 404, 403)
    for page in (forbidden, elsewhere, cross_site):
        assert "Sign out" in page.text


async def test_alerts_page__delivery_log__times_in_utc_marked_for_local_time(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    channel = await add_channel(client, tenant, receiver)
    await sign_in(client, tenant.writer)
    await client.post(f"/orgs/{tenant.id}/alerts/channels/{channel['id']}/test", headers=ORIGIN)

    html = (await client.get(f"/orgs/{tenant.id}/alerts/")).text

    created = re.search(
        r'<td class="nowrap"><time datetime="[^"]+Z" data-local="datetime">([^<]+)</time>', html
    )
    assert created is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", created.group(1))
    assert 'id="time-toggle"' in html
