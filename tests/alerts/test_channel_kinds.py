"""SPEC §7.5 channel kinds against real receivers on loopback: PagerDuty Events API v2, a
Teams Workflows webhook (the card checked against the Adaptive Card 1.4 schema) and email
through a real SMTP server (aiosmtpd), including one that refuses and one that is down."""

from __future__ import annotations

import email
import email.policy
import importlib.resources
import json
import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import jsonschema
import pytest
from aiosmtpd.controller import Controller

from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.delivery import channels
from pipepulse.delivery import service as delivery
from pipepulse.scheduler.runner import alert_pass
from tests.alerts.receiver import Receiver
from tests.alerts.test_evaluation import make_connection
from tests.alerts.test_outbox import break_connection, log_items
from tests.alerts.world import add_rule, channels_url
from tests.conftest import FrozenClock, Tenant

ROUTING_KEY = "R0UT1NGKEY0000000000000000000042"


class Mailbox:
    """An aiosmtpd handler that keeps what it is sent, or refuses it."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002
        if self.refuse:
            return "550 5.7.1 relaying denied"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def kinds_settings(alert_settings: Settings, receiver: Receiver, mailbox: tuple[Mailbox, int]) -> Settings:
    return alert_settings.model_copy(
        update={
            "pagerduty_events_url": f"http://127.0.0.1:{receiver.port}/v2/enqueue",
            "smtp_url": f"smtp://127.0.0.1:{mailbox[1]}",
            "smtp_from": "pipepulse <alerts@pipepulse.example.com>",
        }
    )


@pytest.fixture
def app(kinds_settings: Settings, db: Database, clock: FrozenClock) -> Any:
    return create_app(kinds_settings, clock=clock, database=db)


async def _create(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(channels_url(tenant), json={"name": "page", **body}, headers=tenant.write)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _test_send(client: httpx.AsyncClient, tenant: Tenant, channel: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(channels_url(tenant) + channel["id"] + "/test/", headers=tenant.write)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "pagerduty"}, "needs 'routing_key'"),
        ({"kind": "pagerduty", "routing_key": ROUTING_KEY, "url": "https://x.example.com/"}, "not 'url'"),
        ({"kind": "email"}, "needs 'to'"),
        ({"kind": "email", "to": ["not an address"]}, "to"),
        ({"kind": "msteams"}, "needs 'url'"),
    ],
)
async def test_channel_create__kind_without_its_fields__422_naming_them(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], says: str
) -> None:
    response = await client.post(channels_url(tenant), json={"name": "x", **body}, headers=tenant.write)
    assert response.status_code == 422
    assert says in response.text


async def test_pagerduty__test_send_and_an_error__events_v2_trigger_with_dedup_key_and_details(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    kinds_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    channel = await _create(client, tenant, kind="pagerduty", routing_key=ROUTING_KEY)
    assert channel["url"] == ""
    assert ROUTING_KEY not in json.dumps(channel)
    assert (await _test_send(client, tenant, channel))["delivered"] is True
    [sent] = receiver.received()
    assert sent.path == "/v2/enqueue"
    assert sent.json["routing_key"] == ROUTING_KEY
    assert sent.json["event_action"] == "trigger"
    assert sent.json["payload"]["severity"] == "info"
    assert sent.json["payload"]["source"] == "pipepulse"

    connection_id = await make_connection(client, tenant)
    await add_rule(client, tenant, channel["id"], ["status:error", "recovered"])
    await break_connection(client, tenant, service_key, clock, connection_id)
    await alert_pass(db, kinds_settings, clock.now)
    trigger = receiver.received()[-1].json
    assert trigger["event_action"] == "trigger"
    # One PagerDuty alert per group: keyed by the group's id, resolved by it later.
    assert trigger["dedup_key"].startswith("agr_")
    assert trigger["payload"]["severity"] == "critical"
    assert len(trigger["payload"]["summary"]) <= 1024
    assert trigger["payload"]["summary"].startswith("Finance replica is in Error")
    assert trigger["payload"]["component"] == "Finance replica"
    [alert] = trigger["payload"]["custom_details"]["alerts"]
    assert alert["connection"]["id"] == connection_id
    assert trigger["links"][0]["href"].startswith("https://pipepulse.example.com/")


async def test_msteams__test_send_and_an_error__adaptive_card_valid_against_the_1_4_schema(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    kinds_settings: Settings,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    schema_text = importlib.resources.files("adaptive_cards").joinpath("schemas/schema-1.4.json").read_text()
    validator = jsonschema.Draft6Validator(json.loads(schema_text))
    channel = await _create(client, tenant, kind="msteams", url=receiver.url)
    assert (await _test_send(client, tenant, channel))["delivered"] is True

    connection_id = await make_connection(client, tenant)
    await add_rule(client, tenant, channel["id"], ["status:error"])
    await break_connection(client, tenant, service_key, clock, connection_id)
    await alert_pass(db, kinds_settings, clock.now)

    test_message, error_message = (d.json for d in receiver.received())
    for message in (test_message, error_message):
        assert message["type"] == "message"
        [attachment] = message["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert card["version"] == "1.4"
        errors = sorted(validator.iter_errors(card), key=str)
        assert errors == [], errors[0].message if errors else ""
    card = error_message["attachments"][0]["content"]
    assert card["body"][0]["text"] == "Finance replica is in Error"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert (facts["Connection"], facts["Change"], facts["Connections affected"]) == (
        "Finance replica",
        "Degraded → Error",  # a good run, then three failures
        "1",
    )
    assert "/incidents/agr_" in card["actions"][0]["url"]
    # A card the schema refuses is told apart (the check is not vacuous).
    assert list(validator.iter_errors({**card, "body": [{"type": "TextBlock"}]}))


async def test_email__test_send__multipart_text_and_html_with_message_id_from_the_notification(
    client: httpx.AsyncClient, tenant: Tenant, mailbox: tuple[Mailbox, int]
) -> None:
    box, _port = mailbox
    channel = await _create(client, tenant, kind="email", to=["oncall@example.com", "data@example.com"])
    assert channel["to"] == ["oncall@example.com", "data@example.com"]
    assert (await _test_send(client, tenant, channel))["delivered"] is True
    [message] = box.messages
    assert box.envelopes[0] == ("alerts@pipepulse.example.com", ["oncall@example.com", "data@example.com"])
    assert message.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in message.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    log = (await client.get(f"/api/v1/organisations/{tenant.id}/notifications/", headers=tenant.read)).json()
    assert message["Message-ID"] == f"<{log['items'][0]['id']}@pipepulse>"
    assert "[TEST:0]" in message["Subject"]
    assert "Test notification" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_email__server_refuses__not_delivered_with_its_answer(
    client: httpx.AsyncClient, tenant: Tenant, mailbox: tuple[Mailbox, int]
) -> None:
    box, _port = mailbox
    box.refuse = True
    channel = await _create(client, tenant, kind="email", to=["oncall@example.com"])
    result = await _test_send(client, tenant, channel)
    assert result["delivered"] is False
    assert result["error"].startswith("SMTP 550")
    assert "relaying denied" in result["error"]


async def test_email__server_down__retried_and_delivered_once_it_is_up(
    client: httpx.AsyncClient,
    tenant: Tenant,
    service_key: dict[str, str],
    db: Database,
    kinds_settings: Settings,
    clock: FrozenClock,
) -> None:
    port = _free_port()  # nothing listens here yet
    down = kinds_settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    channel = await _create(client, tenant, kind="email", to=["oncall@example.com"])
    connection_id = await make_connection(client, tenant)
    await add_rule(client, tenant, channel["id"], ["status:error"])
    await break_connection(client, tenant, service_key, clock, connection_id)
    await alert_pass(db, down, clock.now)
    [item] = await log_items(client, tenant)
    assert item["state"] == "pending"
    assert item["attempts"] == 1
    assert "could not reach the SMTP server 127.0.0.1" in item["last_error"]

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        at = datetime.fromisoformat(item["next_attempt_at"])
        await delivery.deliver_due(db, at, allow_private=True, options=channels.options_from(down))
    finally:
        controller.stop()
    [item] = await log_items(client, tenant)
    assert item["state"] == "delivered"
    assert item["attempts"] == 2
    [message] = box.messages
    assert message["Message-ID"] == f"<{item['id']}@pipepulse>"
    assert "[FIRING:1]" in message["Subject"]
