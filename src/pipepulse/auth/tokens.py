"""Secret formats: ``ppt_<id>_<secret>`` for user tokens, ``pps_<id>_<secret>`` for service keys.

Only a SHA-256 of the secret is stored. The id lets us fetch the one candidate row; the
secret is then compared in constant time. Secrets are 256 random bits, so a fast hash is
enough (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

Kind = Literal["user", "service"]
PREFIXES: dict[Kind, str] = {"user": "ppt_", "service": "pps_"}
ID_LENGTH = 12


@dataclass(frozen=True)
class ParsedSecret:
    kind: Kind
    id: str
    secret: str


@dataclass(frozen=True)
class NewSecret:
    id: str
    plaintext: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(kind: Kind) -> NewSecret:
    key_id = secrets.token_hex(ID_LENGTH // 2)
    secret = secrets.token_urlsafe(32)
    return NewSecret(
        id=key_id, plaintext=f"{PREFIXES[kind]}{key_id}_{secret}", secret_hash=hash_secret(secret)
    )


def parse(value: str) -> ParsedSecret | None:
    for kind, prefix in PREFIXES.items():
        if value.startswith(prefix):
            rest = value[len(prefix) :]
            key_id, sep, secret = (
                rest[:ID_LENGTH],
                rest[ID_LENGTH : ID_LENGTH + 1],
                rest[ID_LENGTH + 1 :],
            )
            if sep == "_" and secret and all(c in "0123456789abcdef" for c in key_id):
                return ParsedSecret(kind=kind, id=key_id, secret=secret)
    return None


def matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)
