"""The demo's alerting: a webhook receiver on loopback that checks each delivery's signature
and prints it, a channel and a rule that send it every connection's alerts (one group per
connection, the default), a rule that groups status alerts by condition (SPEC §7.4) and a
silence of the degraded ones.

A real receiver would be a service of its own; this one is the smallest honest one (the
receiver example of docs/alerts.md, on asyncio so it shares the demo's event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.alerts import service as alerts_service
from pipepulse.alerts import silences_router
from pipepulse.alerts.schemas import ChannelCreate, RuleCreate
from pipepulse.auth.principals import UserPrincipal
from pipepulse.delivery import bodies, group_bodies
from pipepulse.wire.webhook_signature import (
    NOTIFICATION_ID_HEADER,
    SIGNATURE_HEADER,
    WebhookSignatureError,
    verify,
)

MAX_BODY = 1 << 20
RULE_EVENTS = ["status:error", "status:degraded", "recovered", "late", "fresh", "volume_anomaly"]
GROUPED_EVENTS = ["status:error", "status:degraded", "recovered"]
SILENCE_COMMENT = "Flaky pipelines are under investigation; page only for errors"
SILENCE_DAYS = 7


@dataclass
class Receiver:
    """Answers 204 to a delivery signed with ``secret`` (400 otherwise) and reports it."""

    report: Callable[[str], None]
    clock: Callable[[], float] | None = None  # Unix seconds; None: the system clock
    secret: str = ""
    seen: set[str] = field(default_factory=set)
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def start(self, host: str = "127.0.0.1") -> None:
        self.server = await asyncio.start_server(self._serve, host, 0)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status = await self._handle(reader)
        except (ValueError, asyncio.IncompleteReadError, ConnectionError):
            status = "400 Bad Request"
        with contextlib.suppress(ConnectionError):
            writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader) -> str:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        headers = {}
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if length > MAX_BODY:
            return "413 Content Too Large"
        body = await reader.readexactly(length)
        try:
            now = self.clock() if self.clock is not None else None
            notification = verify(body, headers.get(SIGNATURE_HEADER.lower(), ""), self.secret, now=now)
        except WebhookSignatureError as exc:
            self.report(f"  Alert refused (bad signature: {exc})")
            return "400 Bad Request"
        notification_id = headers.get(NOTIFICATION_ID_HEADER.lower(), "")
        if notification_id not in self.seen:  # at least once: a repeat is dropped by its id
            self.seen.add(notification_id)
            if notification.get("type") == group_bodies.GROUP_TYPE:
                headline, detail = group_bodies.summary(notification)
                self.report(
                    f"  Alert group received: {headline}. {detail} [{notification_id}, signature verified]"
                )
            else:
                headline, change, why, _since = bodies.describe(notification)
                self.report(
                    f"  Alert received: {headline} ({change}). {why} [{notification_id}, signature verified]"
                )
        return "204 No Content"


async def set_up(
    session: AsyncSession,
    owner: UserPrincipal,
    organisation_id: int,
    receiver: Receiver,
    now: datetime,
) -> None:
    """A webhook channel to the receiver, a rule sending it every connection's alerts (grouped by
    connection), a rule grouping status alerts by condition, and a week's silence of the
    degraded ones."""
    channel = await alerts_service.create_channel(
        session,
        owner,
        organisation_id,
        ChannelCreate(
            name="Demo receiver", kind="webhook", url=f"http://127.0.0.1:{receiver.port}/pipepulse"
        ),
        now,
        allow_private=True,
    )
    assert channel.signing_secret is not None
    receiver.secret = channel.signing_secret
    await alerts_service.create_rule(
        session,
        owner,
        organisation_id,
        RuleCreate(channel_id=channel.id, events=RULE_EVENTS, connection_ids=None),
        now,
    )
    # One notification per condition, however many connections share it (SPEC §7.4).
    await alerts_service.create_rule(
        session,
        owner,
        organisation_id,
        RuleCreate(
            channel_id=channel.id, events=GROUPED_EVENTS, group_by=["condition"], group_wait_seconds=0
        ),
        now,
    )
    # Degraded alerts are recorded and shown (marked silenced) but sent nowhere for a week.
    await silences_router.create_organisation_silence(
        session,
        owner,
        organisation_id,
        silences_router.SilenceCreate(
            matchers={"condition": "degraded"},
            starts_at=now,
            ends_at=now + timedelta(days=SILENCE_DAYS),
            comment=SILENCE_COMMENT,
        ),
        now,
        bound=1,
    )
