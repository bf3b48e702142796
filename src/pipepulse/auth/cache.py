"""Recently verified credentials, so most requests skip the token lookup.

An entry holds the stored hash of a secret that authenticated, and the principal it gave.
A request presenting the same id is checked against that hash (in constant time) instead of
the database. Entries expire ``ttl`` after they were verified, which bounds how long a
token or key revoked elsewhere (another process, the CLI) keeps working in this process.
Only successes are kept, and at most ``max_entries`` of them (least recently used leave).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from pipepulse.auth import tokens
from pipepulse.auth.principals import ServicePrincipal, UserPrincipal

Principal = UserPrincipal | ServicePrincipal


class PrincipalCache:
    def __init__(self, ttl: timedelta, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[str, Principal, datetime]] = OrderedDict()

    def get(self, parsed: tokens.ParsedSecret, now: datetime) -> Principal | None:
        key = (parsed.kind, parsed.id)
        entry = self._entries.get(key)
        if entry is None:
            return None
        secret_hash, principal, expires_at = entry
        if now >= expires_at:
            del self._entries[key]
            return None
        if not tokens.matches(parsed.secret, secret_hash):
            return None
        self._entries.move_to_end(key)
        return principal

    def put(self, parsed: tokens.ParsedSecret, secret_hash: str, principal: Principal, now: datetime) -> None:
        if self.ttl <= timedelta(0):
            return
        key = (parsed.kind, parsed.id)
        self._entries[key] = (secret_hash, principal, now + self.ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, kind: tokens.Kind, key_id: str) -> None:
        """Drop one credential at once (revoked in this process)."""
        self._entries.pop((kind, key_id), None)
