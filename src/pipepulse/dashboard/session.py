"""The dashboard's sign-in session: a signed cookie that names a token, re-checked on every request.

The cookie never holds the token's secret. It holds the token id and a fingerprint of the
token's stored hash, signed with the app's secret key; each request loads the token row again,
so revoking the token (or deleting it) ends every dashboard session made with it at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth.principals import UserPrincipal
from pipepulse.config import Settings
from pipepulse.db.models import ApiToken

log = logging.getLogger("pipepulse.dashboard")

COOKIE_NAME = "pipepulse_session"
SESSION_MAX_AGE_SECONDS = 12 * 3600
SECRET_KEY_FILE = "secret_key"
_SALT = "pipepulse.dashboard.session"


def secret_key(settings: Settings) -> str:
    """``settings.secret_key``, or one generated once and kept (mode 0600) in the data directory."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / SECRET_KEY_FILE
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        # O_EXCL: when two processes start at once, one writes and the other reads its key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    log.info("generated the dashboard session key", extra={"path": str(path)})
    return key


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty; delete it to generate a new key, or set PIPEPULSE_SECRET_KEY")
    return key


def _serializer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    serializer: URLSafeTimedSerializer | None = getattr(state, "dashboard_serializer", None)
    if serializer is None:
        serializer = URLSafeTimedSerializer(secret_key(state.settings), salt=_SALT)
        state.dashboard_serializer = serializer
    return serializer


def _fingerprint(secret_hash: str) -> str:
    # A token re-issued under the same id (or a changed hash) must not match an old cookie.
    return hashlib.sha256(secret_hash.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SessionData:
    token_id: str
    fingerprint: str


def read(request: Request) -> SessionData | None:
    raw = request.cookies.get(COOKIE_NAME)
    if not raw:
        return None
    try:
        value = _serializer(request).loads(raw, max_age=SESSION_MAX_AGE_SECONDS)
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(value, dict):
        return None
    token_id, fingerprint = value.get("t"), value.get("f")
    if not isinstance(token_id, str) or not isinstance(fingerprint, str):
        return None
    return SessionData(token_id=token_id, fingerprint=fingerprint)


async def principal(session: AsyncSession, data: SessionData) -> UserPrincipal | None:
    """The token the cookie names, if it still exists, is not revoked and has the same secret."""
    token = await session.scalar(select(ApiToken).where(ApiToken.id == data.token_id))
    if token is None or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(_fingerprint(token.secret_hash), data.fingerprint):
        return None
    return UserPrincipal(
        token_id=token.id, organisation_id=token.organisation_id, scopes=frozenset(token.scopes)
    )


async def start(request: Request, response: Response, session: AsyncSession, token_id: str) -> None:
    secret_hash = await session.scalar(select(ApiToken.secret_hash).where(ApiToken.id == token_id))
    assert secret_hash is not None
    value = _serializer(request).dumps({"t": token_id, "f": _fingerprint(secret_hash)})
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=SESSION_MAX_AGE_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def end(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
