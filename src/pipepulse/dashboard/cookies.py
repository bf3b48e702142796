"""The dashboard's sign-in session: a signed cookie that names a session row, re-checked on every request.

The cookie never holds the token's secret. It holds the id of a ``dashboard_sessions`` row and
a fingerprint of the token's stored hash, signed with the app's secret key. Each request loads
the session and its token again, so signing out (which revokes the row), revoking the token or
deleting it ends the session at once: a copy of the cookie kept from before is worthless.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth.principals import UserPrincipal
from pipepulse.db.models import ApiToken, DashboardSession
from pipepulse.secret_key import SECRET_KEY_FILE, secret_key

log = logging.getLogger(__name__)

COOKIE_NAME = "pipepulse_session"
SESSION_MAX_AGE_SECONDS = 12 * 3600
# The module's former name; kept, as a new salt would sign every reader out.
_SALT = "pipepulse.dashboard.session"
__all__ = ["SECRET_KEY_FILE", "secret_key"]  # the key is read below this room; tests reach it here


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
    session_id: str
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
    session_id, fingerprint = value.get("s"), value.get("f")
    if not isinstance(session_id, str) or not isinstance(fingerprint, str):
        return None
    return SessionData(session_id=session_id, fingerprint=fingerprint)


async def principal(session: AsyncSession, data: SessionData, now: datetime) -> UserPrincipal | None:
    """The token of a live session: not signed out, not expired, the token not revoked and unchanged."""
    s, t = DashboardSession.__table__.c, ApiToken.__table__.c
    row = (
        await session.execute(
            select(t.id, t.organisation_id, t.scopes, t.secret_hash)
            .join_from(DashboardSession, ApiToken, s.token_id == t.id)
            .where(
                s.id == data.session_id,
                s.revoked_at.is_(None),
                s.expires_at > now,
                t.revoked_at.is_(None),
            )
        )
    ).first()
    if row is None:
        return None
    if not hmac.compare_digest(_fingerprint(row.secret_hash), data.fingerprint):
        return None
    return UserPrincipal(token_id=row.id, organisation_id=row.organisation_id, scopes=frozenset(row.scopes))


async def start(
    request: Request, response: Response, session: AsyncSession, principal: UserPrincipal, now: datetime
) -> None:
    secret_hash = await session.scalar(select(ApiToken.secret_hash).where(ApiToken.id == principal.token_id))
    assert secret_hash is not None
    # Sessions of this token that can no longer be used are dropped as new ones start.
    s = DashboardSession.__table__.c
    await session.execute(
        delete(DashboardSession).where(
            s.token_id == principal.token_id, or_(s.expires_at <= now, s.revoked_at.is_not(None))
        )
    )
    session_id = secrets.token_hex(16)
    session.add(
        DashboardSession(
            id=session_id,
            token_id=principal.token_id,
            organisation_id=principal.organisation_id,
            created_at=now,
            expires_at=now + timedelta(seconds=SESSION_MAX_AGE_SECONDS),
        )
    )
    await session.flush()
    value = _serializer(request).dumps({"s": session_id, "f": _fingerprint(secret_hash)})
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=SESSION_MAX_AGE_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def end(request: Request, response: Response, session: AsyncSession, now: datetime) -> None:
    """Revoke the session on the server and clear the cookie."""
    data = read(request)
    if data is not None:
        s = DashboardSession.__table__.c
        await session.execute(
            update(DashboardSession)
            .where(s.id == data.session_id, s.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
