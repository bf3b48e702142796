"""One HTTP POST to a channel's URL, done as hostile territory requires (STYLE §14).

The URL is checked again at send time and the connection made to the address that was
checked; redirects are not followed; the whole exchange has a 10 s deadline; proxies from the
environment are ignored (they would connect by name, not to the checked address); and the
outcome's error text never contains the URL's path, query or credentials. Requests go straight
to an httpx transport, not through a client: a client logs every request's full URL at INFO.
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx

from pipepulse.delivery import urls

TIMEOUT_SECONDS = 10.0
RESPONSE_EXCERPT_BYTES = 300
USER_AGENT = "pipepulse-alerts/1"


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    delivered: bool
    status_code: int | None
    error: str | None

    @property
    def gone(self) -> bool:
        """The receiver said the endpoint is gone for good: the channel is disabled."""
        return self.status_code == 410


Client = httpx.AsyncHTTPTransport


def new_client() -> Client:
    """A connection pool for one pass; a transport follows no redirect and reads no proxy."""
    return httpx.AsyncHTTPTransport(
        retries=0, limits=httpx.Limits(max_connections=64, max_keepalive_connections=0)
    )


def _secret_values(url: str) -> list[str]:
    """What of ``url`` is secret: its whole, path, query, fragment, credentials, and the
    credentials as a receiver might echo them back (the Basic header's base64)."""
    try:
        parts = urlsplit(url)
        found = [url, parts.path, parts.query, parts.fragment, parts.username, parts.password]
        if parts.username is not None or parts.password is not None:
            user, password = unquote(parts.username or ""), unquote(parts.password or "")
            found += [user, password, base64.b64encode(f"{user}:{password}".encode()).decode("ascii")]
    except ValueError:
        found = [url]
    return sorted({s for s in found if s and s != "/"}, key=len, reverse=True)


def _whole(value: str) -> str:
    """A pattern for ``value`` only where it stands whole: not inside a longer word."""
    before = r"(?<![\w])" if value[0].isalnum() or value[0] == "_" else ""
    after = r"(?![\w])" if value[-1].isalnum() or value[-1] == "_" else ""
    return before + re.escape(value) + after


def scrub(text: str, url: str) -> str:
    """``text`` without any secret part of ``url``, each replaced only where it stands whole
    (a user name ``u`` leaves ``user-agent`` alone)."""
    secrets = _secret_values(url)
    if not secrets:
        return text
    return re.sub("|".join(_whole(s) for s in secrets), "…", text)


def _request(target: urls.Target, body: bytes, headers: dict[str, str]) -> httpx.Request:
    """The request, pinned to the checked address, with credentials from the URL as Basic auth."""
    url = httpx.URL(target.url)
    extra: dict[str, str] = {}
    if url.username or url.password:
        pair = f"{url.username}:{url.password}".encode()
        extra["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    url = url.copy_with(username=None, password=None)
    extensions: dict[str, object] = {"timeout": httpx.Timeout(TIMEOUT_SECONDS).as_dict()}
    if target.address is not None:
        url = url.copy_with(host=target.address)
        default_port = 443 if target.scheme == "https" else 80
        host = f"[{target.host}]" if ":" in target.host else target.host
        extra["Host"] = host if target.port == default_port else f"{host}:{target.port}"
        if target.scheme == "https":
            # TLS still names (and verifies the certificate of) the host, not the address.
            extensions["sni_hostname"] = target.host
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers, **extra}
    return httpx.Request("POST", url, content=body, headers=all_headers, extensions=extensions)


async def post(
    client: Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
) -> Outcome:
    """POST ``body`` to ``url``: delivered on a 2xx, otherwise why not."""
    try:
        target = await urls.check(url, allow_private=allow_private)
    except urls.UnsafeURL as exc:
        return Outcome(False, None, f"not sent: {exc}")
    request = _request(target, body, headers)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            response = await client.handle_async_request(request)
            try:
                excerpt = b""
                async for chunk in response.aiter_raw():
                    excerpt += chunk
                    if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                        break
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(False, None, f"no answer within {TIMEOUT_SECONDS:g} s from {target.host}")
    except httpx.HTTPError as exc:
        reason = scrub(str(exc) or type(exc).__name__, url)
        return Outcome(False, None, f"could not reach {target.host}: {reason}")
    except OSError as exc:
        return Outcome(False, None, f"could not reach {target.host}: {scrub(str(exc), url)}")
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(True, code, None)
    if 300 <= code < 400:
        return Outcome(False, code, f"HTTP {code}: redirects are not followed; use the final URL")
    said = scrub(excerpt[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace").strip(), url)
    return Outcome(False, code, f"HTTP {code}" + (f": {said}" if said else ""))
