"""What a channel kind needs to know of its channel, and of the installation, to deliver."""

from __future__ import annotations

from dataclasses import dataclass

from pipepulse import secretbox

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True)
class Target:
    id: str
    kind: str
    url: str
    signing_secret: str | None = None
    routing_key: str | None = None
    recipients: tuple[str, ...] = ()

    @property
    def undecryptable(self) -> bool:
        """A secret still encrypted: no key here decrypts it (see :mod:`pipepulse.secretbox`)."""
        return any(secretbox.is_sealed(v) for v in (self.url, self.signing_secret, self.routing_key))


@dataclass(frozen=True)
class Options:
    """The installation's settings the kinds use."""

    allow_private: bool = False
    pagerduty_events_url: str = PAGERDUTY_EVENTS_URL
    smtp_url: str = ""
    smtp_from: str = "pipepulse@localhost"
