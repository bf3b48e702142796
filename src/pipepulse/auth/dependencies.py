"""FastAPI dependencies that turn the Authorization header into a principal."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.auth.principals import ServicePrincipal, UserPrincipal
from pipepulse.deps import read_session, write_session
from pipepulse.errors import Forbidden, NotAuthenticated


async def bearer_secret(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        raise NotAuthenticated("missing bearer token: send 'Authorization: Bearer <token>'")
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthenticated("malformed Authorization header: expected 'Bearer <token>'")
    return value.strip()


def user(scope: str, *, write: bool = False) -> Callable[..., Awaitable[UserPrincipal]]:
    """Dependency: a user token carrying ``scope`` (service keys are refused)."""
    session_dependency = write_session if write else read_session

    async def dependency(
        secret: Annotated[str, Depends(bearer_secret)],
        session: Annotated[AsyncSession, Depends(session_dependency, scope="function")],
    ) -> UserPrincipal:
        principal = await auth_service.authenticate(session, secret)
        if principal is None:
            raise NotAuthenticated("invalid or revoked token")
        if isinstance(principal, ServicePrincipal):
            raise Forbidden("service keys may only call the run-writing endpoints; use a user token")
        if scope not in principal.scopes:
            raise Forbidden(f"this token lacks the '{scope}' scope")
        return principal

    return dependency


async def service(
    secret: Annotated[str, Depends(bearer_secret)],
    session: Annotated[AsyncSession, Depends(write_session, scope="function")],
) -> ServicePrincipal:
    """Dependency: a service key (loaders and the scheduler)."""
    principal = await auth_service.authenticate(session, secret)
    if principal is None:
        raise NotAuthenticated("invalid or revoked service key")
    if isinstance(principal, UserPrincipal):
        raise Forbidden("run-writing endpoints need a service key, not a user token")
    return principal


Service = Annotated[ServicePrincipal, Depends(service)]
# The scope every read endpoint needs.
Reader = Annotated[UserPrincipal, Depends(user(scopes.READ_PIPELINE_METRICS))]
