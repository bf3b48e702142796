"""Channel secrets encrypted at rest (SPEC §7.5): Fernet keys derived from PIPEPULSE_SECRET_KEY.

The setting holds one or more comma-separated secrets of at least 32 characters. Each is
stretched into a Fernet key with HKDF-SHA256; the first encrypts, all decrypt
(:class:`cryptography.fernet.MultiFernet`), so a new secret is put first, ``pipepulse secrets
rotate`` re-encrypts every stored value under it, and the old one can then be dropped.

A stored value is ``enc1:`` followed by the Fernet token. Values without the prefix were
written before encryption existed; they are read as they are and encrypted by the migration
or the next rotation.

This module reads no settings: the process installs its box once at start-up
(:func:`install`), and :class:`pipepulse.db.sealed.SealedText` columns use it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)

PREFIX = "enc1:"
MIN_SECRET_LENGTH = 32
SETTING = "PIPEPULSE_SECRET_KEY"
_SALT = b"pipepulse.channel-secrets"
_INFO = b"pipepulse channel secrets v1"


class NoSecretKey(RuntimeError):
    """No key to encrypt or decrypt with; the message says which setting to give."""


def parse(setting: str) -> list[str]:
    """The secrets of a ``PIPEPULSE_SECRET_KEY`` value, first (the encrypting one) first."""
    secrets = [part.strip() for part in setting.split(",") if part.strip()]
    if not secrets:
        raise NoSecretKey(f"{SETTING} is empty")
    short = [i + 1 for i, s in enumerate(secrets) if len(s) < MIN_SECRET_LENGTH]
    if short:
        which = ", ".join(map(str, short))
        raise NoSecretKey(
            f"{SETTING}: every comma-separated secret must be at least {MIN_SECRET_LENGTH} characters"
            f" (secret {which} is shorter)"
        )
    return secrets


def derive(secret: str) -> bytes:
    """The Fernet key (url-safe base64 of 32 bytes) derived from one secret."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode("utf-8")))


def is_sealed(value: str | None) -> bool:
    return value is not None and value.startswith(PREFIX)


class SecretBox:
    """Encrypts with the first secret, decrypts with any."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise NoSecretKey(f"{SETTING} is empty")
        self._fernet = MultiFernet([Fernet(derive(s)) for s in secrets])

    def seal(self, value: str) -> str:
        return PREFIX + self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        """The clear value; a value written before encryption is returned as it is.

        Raises :class:`cryptography.fernet.InvalidToken` when no secret decrypts it.
        """
        if not is_sealed(stored):
            return stored
        return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")

    def reseal(self, stored: str) -> str:
        """``stored`` encrypted under the first secret (a clear value is encrypted)."""
        if not is_sealed(stored):
            return self.seal(stored)
        token = self._fernet.rotate(stored[len(PREFIX) :].encode("ascii"))
        return PREFIX + token.decode("ascii")


_installed: SecretBox | None = None


def install(box: SecretBox | None) -> None:
    """Make ``box`` the one this process encrypts and decrypts channel secrets with."""
    global _installed
    _installed = box


def current() -> SecretBox | None:
    return _installed


def seal(value: str) -> str:
    box = _installed
    if box is None:
        raise NoSecretKey(
            f"channel secrets are encrypted at rest and no key is set: set {SETTING}"
            f" (one or more comma-separated secrets of at least {MIN_SECRET_LENGTH} characters,"
            " the same on every replica)"
        )
    return box.seal(value)


def open_or_keep(stored: str) -> str:
    """The clear value, or ``stored`` unchanged when it cannot be decrypted here (no key, or
    a key that is not among the secrets): the sender then refuses to use it (see
    :func:`is_sealed`) and says why, instead of every read failing."""
    box = _installed
    if box is None or not is_sealed(stored):
        return stored
    try:
        return box.open(stored)
    except InvalidToken:
        log.warning("a channel secret cannot be decrypted with %s", SETTING)
        return stored
