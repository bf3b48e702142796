"""Creating and checking user tokens and service keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth import repository, tokens
from pipepulse.auth import scopes as scope_names
from pipepulse.auth.cache import PrincipalCache
from pipepulse.auth.principals import ServicePrincipal, UserPrincipal
from pipepulse.db.models import ApiToken, ServiceKey
from pipepulse.errors import Invalid


@dataclass(frozen=True)
class IssuedToken:
    id: str
    token: str
    organisation_id: int | None
    scopes: list[str]


@dataclass(frozen=True)
class IssuedServiceKey:
    id: str
    name: str
    key: str
    organisation_id: int | None = None
    auto_create_connections: bool = False


async def create_token(
    session: AsyncSession,
    *,
    organisation_id: int | None,
    scopes: Iterable[str],
    name: str,
    now: datetime,
) -> IssuedToken:
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in scope_names.ALL]
    if unknown:
        raise Invalid(f"unknown scope(s) {unknown}; known scopes: {list(scope_names.ALL)}")
    if not wanted:
        raise Invalid("a token needs at least one scope")
    issued = tokens.new_secret("user")
    await repository.add(
        session,
        ApiToken(
            id=issued.id,
            organisation_id=organisation_id,
            name=name,
            secret_hash=issued.secret_hash,
            scopes=wanted,
            created_at=now,
        ),
    )
    return IssuedToken(id=issued.id, token=issued.plaintext, organisation_id=organisation_id, scopes=wanted)


async def create_service_key(
    session: AsyncSession,
    *,
    name: str,
    now: datetime,
    organisation_id: int | None = None,
    auto_create_connections: bool = False,
) -> IssuedServiceKey:
    if auto_create_connections and organisation_id is None:
        raise Invalid("--auto-create-connections needs --org: connections belong to one organisation")
    issued = tokens.new_secret("service")
    await repository.add(
        session,
        ServiceKey(
            id=issued.id,
            name=name,
            secret_hash=issued.secret_hash,
            created_at=now,
            organisation_id=organisation_id,
            auto_create_connections=auto_create_connections,
        ),
    )
    return IssuedServiceKey(
        id=issued.id,
        name=name,
        key=issued.plaintext,
        organisation_id=organisation_id,
        auto_create_connections=auto_create_connections,
    )


def cached(
    bearer: str, cache: PrincipalCache | None, now: datetime
) -> UserPrincipal | ServicePrincipal | None:
    """The principal of a secret verified within the cache's time to live, else None — which
    is not a refusal: only ``authenticate``, with the database, can refuse."""
    parsed = tokens.parse(bearer)
    if parsed is None or cache is None:
        return None
    return cache.get(parsed, now)


async def authenticate(
    session: AsyncSession,
    bearer: str,
    *,
    cache: PrincipalCache | None = None,
    now: datetime | None = None,
) -> UserPrincipal | ServicePrincipal | None:
    """The principal for a bearer secret, or None when it is unknown, wrong or revoked.

    With a ``cache`` (and the request's ``now``), a secret verified within the cache's time
    to live is accepted without a query; see auth/cache.py for what that bounds.
    """
    parsed = tokens.parse(bearer)
    if parsed is None:
        return None
    if cache is not None and now is not None:
        known = cache.get(parsed, now)
        if known is not None:
            return known
    found = await _lookup(session, parsed)
    if found is None:
        return None
    secret_hash, principal = found
    if cache is not None and now is not None:
        cache.put(parsed, secret_hash, principal, now)
    return principal


async def _lookup(
    session: AsyncSession, parsed: tokens.ParsedSecret
) -> tuple[str, UserPrincipal | ServicePrincipal] | None:
    if parsed.kind == "user":
        token = await repository.token_secret(session, parsed.id)
        if token is None or token.revoked_at is not None:
            return None
        if not tokens.matches(parsed.secret, token.secret_hash):
            return None
        user = UserPrincipal(
            token_id=parsed.id, organisation_id=token.organisation_id, scopes=frozenset(token.scopes)
        )
        return token.secret_hash, user
    key = await repository.service_key_secret(session, parsed.id)
    if key is None or key.revoked_at is not None:
        return None
    if not tokens.matches(parsed.secret, key.secret_hash):
        return None
    return key.secret_hash, ServicePrincipal(
        key_id=parsed.id,
        name=key.name,
        organisation_id=key.organisation_id,
        auto_create_connections=bool(key.auto_create_connections),
    )


async def revoke_token(session: AsyncSession, token_id: str, now: datetime) -> bool:
    """Revoke a user token by id; False when there is no such live token."""
    token = await repository.get_token(session, token_id)
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = now
    await session.flush()
    return True


async def revoke_service_key(session: AsyncSession, key_id: str, now: datetime) -> bool:
    key = await repository.get_service_key(session, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = now
    await session.flush()
    return True


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return await repository.tokens(session)


async def list_service_keys(session: AsyncSession) -> list[ServiceKey]:
    return await repository.service_keys(session)
