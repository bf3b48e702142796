"""Test sends (SPEC §7.3 ``…/test/``): a few a minute per channel (429 with Retry-After past
that), and a log line for every one, with no secret of the channel in it."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.alerts.receiver import Receiver
from tests.alerts.world import add_channel, channels_url
from tests.conftest import FrozenClock, Tenant

LIMIT = 5  # PIPEPULSE_ALERTS_TEST_SENDS_PER_MINUTE's default


def send_url(tenant: Tenant, channel_id: str) -> str:
    return channels_url(tenant) + channel_id + "/test/"


async def test_test_send__past_the_limit__429_with_retry_after_until_the_minute_passes(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, clock: FrozenClock
) -> None:
    channel = await add_channel(client, tenant, receiver)
    other = await add_channel(client, tenant, receiver, name="Other")
    first = clock.now
    for i in range(LIMIT):
        clock.now = first + timedelta(seconds=i)
        sent = await client.post(send_url(tenant, channel["id"]), headers=tenant.write)
        assert sent.status_code == 200, sent.text
    clock.now = first + timedelta(seconds=10)
    refused = await client.post(send_url(tenant, channel["id"]), headers=tenant.write)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "50"  # when the first of the five is a minute old
    assert "PIPEPULSE_ALERTS_TEST_SENDS_PER_MINUTE" in refused.json()["detail"]
    assert len(receiver.received("test")) == LIMIT
    # Another channel has its own share.
    assert (await client.post(send_url(tenant, other["id"]), headers=tenant.write)).status_code == 200
    clock.now = first + timedelta(seconds=60)
    assert (await client.post(send_url(tenant, channel["id"]), headers=tenant.write)).status_code == 200


async def test_test_send__sixty_at_once__only_the_limit_reaches_the_receiver(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    channel = await add_channel(client, tenant, receiver)
    answers = await asyncio.gather(
        *(client.post(send_url(tenant, channel["id"]), headers=tenant.write) for _ in range(60))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * LIMIT + [429] * (60 - LIMIT)
    assert len(receiver.received("test")) == LIMIT


async def test_test_send__delivered_or_refused__logged_with_ids_and_no_secret(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await add_channel(client, tenant, receiver)
    caplog.set_level(logging.INFO, logger="pipepulse")
    await client.post(send_url(tenant, channel["id"]), headers=tenant.write)
    receiver.statuses = [500]
    await client.post(send_url(tenant, channel["id"]), headers=tenant.write)
    lines = [r for r in caplog.records if r.getMessage().startswith("test notification")]
    assert [r.getMessage().split(":")[0] for r in lines] == [
        "test notification delivered",
        "test notification not delivered",
    ]
    assert lines[1].getMessage() == "test notification not delivered: HTTP 500: answer 500"
    for record in lines:
        assert record.channel_id == channel["id"]  # type: ignore[attr-defined]
        assert record.organisation_id == tenant.id  # type: ignore[attr-defined]
        assert record.notification_id.startswith("ntf_")  # type: ignore[attr-defined]
    logged = caplog.text + " ".join(str(vars(r)) for r in caplog.records)
    assert "s3cr3t-query" not in logged
    assert channel["signing_secret"] not in logged


@pytest.fixture
def cutting_receiver(database_url: str) -> Iterator[str]:
    """A receiver that, while it handles a test, cuts every connection pipepulse has to its
    PostgreSQL database (a real outage of the connections in hand), then answers 204."""
    url = make_url(database_url)

    async def cut() -> None:
        admin = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, database="postgres"
        )
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                url.database,
            )
        finally:
            await admin.close()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            asyncio.run(cut())
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook?token=s3cr3t-query"
    server.shutdown()
    server.server_close()


@pytest.mark.only_on("postgres")
async def test_test_send__database_cut_off_after_the_send__503_and_the_send_is_logged(
    client: httpx.AsyncClient,
    tenant: Tenant,
    cutting_receiver: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    created = await client.post(
        channels_url(tenant),
        json={"name": "hook", "kind": "webhook", "url": cutting_receiver},
        headers=tenant.write,
    )
    channel = created.json()
    caplog.set_level(logging.INFO, logger="pipepulse")
    answer = await client.post(send_url(tenant, channel["id"]), headers=tenant.write)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
    messages = [r.getMessage() for r in caplog.records]
    assert "test notification delivered" in messages
    [unwritten] = [m for m in messages if "delivery log entry could not be written" in m]
    delivered = next(r for r in caplog.records if r.getMessage() == "test notification delivered")
    assert unwritten.startswith(f"test notification {delivered.notification_id}:")  # type: ignore[attr-defined]
    assert "s3cr3t-query" not in caplog.text
    # The database is back: the delivery log has no entry for it, as the docs say.
    log = await client.get(f"/api/v1/organisations/{tenant.id}/notifications/", headers=tenant.read)
    assert log.status_code == 200
    assert log.json()["items"] == []
