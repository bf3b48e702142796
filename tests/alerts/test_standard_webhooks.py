"""SPEC §7.5: every webhook delivery carries the Standard Webhooks headers, verified by the
`standardwebhooks` library, and `Pipepulse-Signature`, verified by Stripe's verifier."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import stripe
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.alerts.receiver import Receiver
from tests.alerts.world import add_channel, channels_url
from tests.conftest import FrozenClock, Tenant


async def test_webhook__test_send__standard_webhooks_and_stripe_verifiers_accept_it(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, clock: FrozenClock
) -> None:
    clock.now = datetime.now(UTC)  # both verifiers refuse timestamps more than 5 minutes off
    created = await add_channel(client, tenant, receiver)
    secret = created["signing_secret"]
    assert secret.startswith("whsec_")

    sent = await client.post(channels_url(tenant) + created["id"] + "/test/", headers=tenant.write)
    assert sent.json()["delivered"] is True
    delivery = receiver.received("test")[0]
    headers = {k.lower(): v for k, v in delivery.headers.items()}

    assert headers["webhook-id"] == delivery.json["id"] == headers["pipepulse-notification-id"]
    assert headers["webhook-timestamp"] == str(int(clock.now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    verified = Webhook(secret).verify(delivery.body, headers)
    assert verified["id"] == delivery.json["id"]

    event = stripe.WebhookSignature.verify_header(
        delivery.body.decode(), headers["pipepulse-signature"], secret, tolerance=300
    )
    assert event is True


async def test_webhook__body_changed_in_transit__both_verifiers_refuse(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, clock: FrozenClock
) -> None:
    clock.now = datetime.now(UTC)
    created = await add_channel(client, tenant, receiver)
    await client.post(channels_url(tenant) + created["id"] + "/test/", headers=tenant.write)
    delivery = receiver.received("test")[0]
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    tampered = delivery.body.replace(b'"test"', b'"tset"')
    assert tampered != delivery.body

    with pytest.raises(WebhookVerificationError):
        Webhook(created["signing_secret"]).verify(tampered, headers)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            tampered.decode(), headers["pipepulse-signature"], created["signing_secret"], tolerance=300
        )
    # Another channel's secret does not verify it either.
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(delivery.body, headers)
