"""Throttling failed authentications per client address (SPEC §4.8).

After ``limit`` failed authentications (a wrong or revoked credential; a missing one does not
count) from one address within a minute, every further authentication from that address is
refused with 429 until the oldest of those failures is a minute old. Refusing the valid ones
too is the point: otherwise a guess that succeeds would still be told apart from one that
fails. Other addresses are not affected.

The counts live in the process (one API process = one throttle); with several processes an
address gets ``limit`` failures a minute from each. That bounds guessing just as well for
256-bit secrets, and needs no shared store.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime

from pipepulse.errors import TooManyRequests

WINDOW_SECONDS = 60.0
# Past this many tracked addresses, the ones with no recent failure are forgotten first.
MAX_ADDRESSES = 100_000


class TooManyAuthFailures(TooManyRequests):
    pass


class AuthThrottle:
    def __init__(self, limit_per_minute: int) -> None:
        self.limit = limit_per_minute
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - WINDOW_SECONDS:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def retry_after(self, address: str, now: datetime) -> int | None:
        """Seconds until ``address`` may try again, or None when it is not throttled."""
        if self.limit <= 0:
            return None
        at = now.timestamp()
        failures = self._recent(address, at)
        if failures is None or len(failures) < self.limit:
            return None
        return max(1, math.ceil(failures[0] + WINDOW_SECONDS - at))

    def check(self, address: str, now: datetime) -> None:
        """Raise 429 with Retry-After when ``address`` has failed too often this minute."""
        wait = self.retry_after(address, now)
        if wait is not None:
            raise TooManyAuthFailures(
                f"too many failed authentications from this address; retry in {wait} s",
                retry_after=wait,
            )

    def failed(self, address: str, now: datetime) -> None:
        if self.limit <= 0:
            return
        at = now.timestamp()
        failures = self._recent(address, at)
        if failures is None:
            if len(self._failures) >= MAX_ADDRESSES:
                self._forget(at)
            failures = self._failures[address] = deque(maxlen=self.limit)
        failures.append(at)

    def _forget(self, now: float) -> None:
        for address in list(self._failures):
            self._recent(address, now)
        # Still full: drop the addresses tracked longest (dicts keep insertion order).
        while len(self._failures) >= MAX_ADDRESSES:
            del self._failures[next(iter(self._failures))]
