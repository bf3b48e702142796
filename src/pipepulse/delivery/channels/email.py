"""``email``: a multipart text and HTML message through ``PIPEPULSE_SMTP_URL`` (SPEC §7.5).

``smtp://host:port`` upgrades with STARTTLS when the server offers it; ``smtps://`` speaks TLS
from the start; credentials in the URL log in. ``Message-ID`` is derived from the notification
id, so a retried send is recognisably the same message, and ``In-Reply-To`` names the group's
first message, so a mail client threads a group. The SMTP server is the operator's setting,
not a tenant's: it is not held to the public-address rule.
"""

from __future__ import annotations

import html
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from pipepulse.delivery import bodies, sender
from pipepulse.delivery.channels.target import Options, Target

TIMEOUT_SECONDS = 10.0
DOMAIN = "pipepulse"


def message_id(notification_id: str) -> str:
    return f"<{notification_id}@{DOMAIN}>"


def subject(payload: dict[str, Any]) -> str:
    """Names the status and the count, as a number."""
    headline, _change, _why, _since = bodies.describe(payload)
    counts = payload.get("counts") or {}
    status = str(payload.get("status") or ("test" if payload.get("type") == bodies.TEST_TYPE else "firing"))
    count = int(counts.get("firing", 0) + counts.get("resolved", 0)) or (
        1 if payload.get("connection") else 0
    )
    return f"[pipepulse] [{status.upper()}:{count}] {headline}"


def message(
    payload: dict[str, Any], *, sender_address: str, to: tuple[str, ...], now: datetime
) -> EmailMessage:
    headline, change, why, since = bodies.describe(payload)
    link = (payload.get("links") or {}).get("dashboard")
    msg = EmailMessage()
    msg["Subject"] = subject(payload)
    msg["From"] = sender_address
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(str(payload["id"]))
    first = (payload.get("group") or {}).get("first_notification_id")
    if first and first != payload["id"]:
        msg["In-Reply-To"] = message_id(str(first))
        msg["References"] = message_id(str(first))
    lines = [headline, "", f"Change: {change}", f"Reason: {why or '—'}", f"Since: {since or '—'}"]
    if link:
        lines += ["", f"Open: {link}"]
    msg.set_content("\n".join(lines) + "\n")
    rows = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in (("Change", change), ("Reason", why or "—"), ("Since", since or "—"))
    )
    anchor = f"<p><a href='{html.escape(link, quote=True)}'>Open in pipepulse</a></p>" if link else ""
    msg.add_alternative(
        f"<html><body><h2>{html.escape(headline)}</h2><table>{rows}</table>{anchor}</body></html>",
        subtype="html",
    )
    return msg


async def deliver(
    client: sender.Client,  # noqa: ARG001 - every kind's entry takes the same arguments
    channel: Target,
    payload: dict[str, Any],
    *,
    now: datetime,
    options: Options,
) -> sender.Outcome:
    if not options.smtp_url:
        return sender.Outcome(False, None, "not sent: no SMTP server is set (PIPEPULSE_SMTP_URL)")
    if not channel.recipients:
        return sender.Outcome(False, None, "not sent: the channel has no recipients")
    try:
        parts = urlsplit(options.smtp_url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return sender.Outcome(False, None, "not sent: PIPEPULSE_SMTP_URL is not a valid smtp:// URL")
    if parts.scheme not in ("smtp", "smtps") or not host:
        return sender.Outcome(
            False, None, "not sent: PIPEPULSE_SMTP_URL must be smtp:// or smtps://host:port"
        )
    implicit_tls = parts.scheme == "smtps"
    msg = message(payload, sender_address=options.smtp_from, to=channel.recipients, now=now)
    try:
        await aiosmtplib.send(
            msg,
            hostname=host,
            port=port or (465 if implicit_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
            start_tls=None,  # STARTTLS when the server offers it
            timeout=TIMEOUT_SECONDS,
        )
    except aiosmtplib.SMTPResponseException as exc:
        said = sender.scrub(str(exc.message), options.smtp_url)
        return sender.Outcome(False, None, f"SMTP {exc.code}: {said}")
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        said = sender.scrub(str(exc) or type(exc).__name__, options.smtp_url)
        return sender.Outcome(False, None, f"could not reach the SMTP server {host}: {said}")
    return sender.Outcome(True, None, None)
