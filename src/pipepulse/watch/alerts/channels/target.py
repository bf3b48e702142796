"""What a channel kind needs to know of its channel to deliver."""

from __future__ import annotations

from dataclasses import dataclass

from pipepulse import secretbox


@dataclass(frozen=True)
class Target:
    id: str
    kind: str
    url: str
    signing_secret: str | None = None

    @property
    def undecryptable(self) -> bool:
        """A secret still encrypted: no key here decrypts it (see :mod:`pipepulse.secretbox`)."""
        return secretbox.is_sealed(self.url) or secretbox.is_sealed(self.signing_secret)
