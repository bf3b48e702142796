"""FastAPI dependencies that turn the Authorization header into a principal."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.auth.principals import ServicePrincipal, UserPrincipal
from pipepulse.auth.throttle import AuthThrottle
from pipepulse.deps import read_session, write_session
from pipepulse.errors import Forbidden, NotAuthenticated

# Declares the bearer scheme in OpenAPI on every operation that authenticates; the header is
# parsed below, with messages that say what to fix.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A user token (ppt_…) or, for the run-writing endpoints, a service key (pps_…).",
)


MISSING_BEARER = "missing bearer token: send 'Authorization: Bearer <token>'"


async def bearer_secret(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> str:
    return secret_from_header(request.headers.get("authorization", ""))


def secret_from_header(header: str) -> str:
    """The bearer secret of an ``Authorization`` header's value (401 saying what to send)."""
    scheme, _, value = header.partition(" ")
    if not header:
        raise NotAuthenticated(MISSING_BEARER)
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthenticated("malformed Authorization header: expected 'Bearer <token>'")
    return value.strip()


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


async def authenticate(
    request: Request, session: AsyncSession, secret: str
) -> UserPrincipal | ServicePrincipal | None:
    """The principal for ``secret``, counting a failure against the caller's address.

    Raises 429 while the address is throttled, before the credential is even looked at.
    """
    throttle: AuthThrottle = request.app.state.auth_throttle
    now = request.app.state.clock()
    address = client_address(request)
    throttle.check(address, now)
    cache = getattr(request.app.state, "principals", None)
    principal = await auth_service.authenticate(session, secret, cache=cache, now=now)
    if principal is None:
        throttle.failed(address, now)
    return principal


def cached_principal(request: Request, secret: str) -> UserPrincipal | ServicePrincipal | None:
    """``authenticate`` without a session, for a secret the cache holds; None when only the
    database can tell (then call ``authenticate``). The throttle is checked first, as there."""
    throttle: AuthThrottle = request.app.state.auth_throttle
    now = request.app.state.clock()
    throttle.check(client_address(request), now)
    return auth_service.cached(secret, getattr(request.app.state, "principals", None), now)


def user(scope: str, *, write: bool = False) -> Callable[..., Awaitable[UserPrincipal]]:
    """Dependency: a user token carrying ``scope`` (service keys are refused)."""
    session_dependency = write_session if write else read_session

    async def dependency(
        request: Request,
        secret: Annotated[str, Depends(bearer_secret)],
        session: Annotated[AsyncSession, Depends(session_dependency, scope="function")],
    ) -> UserPrincipal:
        return user_with_scope(await authenticate(request, session, secret), scope)

    return dependency


def user_with_scope(principal: UserPrincipal | ServicePrincipal | None, scope: str) -> UserPrincipal:
    """The principal if it is a user token carrying ``scope``; else the 401 or 403 saying why."""
    if principal is None:
        raise NotAuthenticated("invalid or revoked token")
    if isinstance(principal, ServicePrincipal):
        raise Forbidden("service keys may only call the run-writing endpoints; use a user token")
    if scope not in principal.scopes:
        raise Forbidden(f"this token lacks the '{scope}' scope")
    return principal


def service_key(
    session_dependency: Callable[..., AsyncIterator[AsyncSession]] = write_session,
) -> Callable[..., Awaitable[ServicePrincipal]]:
    """Dependency: a service key (loaders and the scheduler), looked up on the route's session."""

    async def dependency(
        request: Request,
        secret: Annotated[str, Depends(bearer_secret)],
        session: Annotated[AsyncSession, Depends(session_dependency, scope="function")],
    ) -> ServicePrincipal:
        return service_principal(await authenticate(request, session, secret))

    return dependency


def service_principal(principal: UserPrincipal | ServicePrincipal | None) -> ServicePrincipal:
    """The principal if it is a service key; else the 401 or 403 saying why."""
    if principal is None:
        raise NotAuthenticated("invalid or revoked service key")
    if isinstance(principal, UserPrincipal):
        raise Forbidden("run-writing endpoints need a service key, not a user token")
    return principal


service = service_key()
Service = Annotated[ServicePrincipal, Depends(service)]
# The scope every read endpoint needs. One dependency, so a route and the dependencies it
# takes (connections/dependencies.py) read the token once.
reader = user(scopes.READ_PIPELINE_METRICS)
Reader = Annotated[UserPrincipal, Depends(reader)]
