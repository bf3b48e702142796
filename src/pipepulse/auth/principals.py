from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserPrincipal:
    """A user token: one organisation, or all of them (a platform token)."""

    token_id: str
    organisation_id: int | None
    scopes: frozenset[str]

    @property
    def is_platform(self) -> bool:
        return self.organisation_id is None

    def can_see(self, organisation_id: int) -> bool:
        return self.organisation_id is None or self.organisation_id == organisation_id


@dataclass(frozen=True)
class ServicePrincipal:
    """A service key; bound to one organisation, it writes only that organisation's runs."""

    key_id: str
    name: str
    organisation_id: int | None = None
    auto_create_connections: bool = False

    def can_write(self, organisation_id: int) -> bool:
        return self.organisation_id is None or self.organisation_id == organisation_id
