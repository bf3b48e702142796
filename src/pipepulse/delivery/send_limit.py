"""How often a channel may be sent a test (SPEC §7.3's ``…/test/``): a bound per channel, so a
script or a double-clicking hand cannot make pipepulse hammer a receiver.

At most ``per_minute`` test sends per (organisation, channel) in any 60 s; the next one is a
429 whose ``Retry-After`` says when the oldest leaves the window. A send counts when it is
accepted, whatever the receiver answers. The counts live in the process, as the
authentication throttle's do (``auth/throttle.py``): with several API processes a channel gets
``per_minute`` from each, which still bounds what one receiver is sent.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime

from pipepulse.errors import TooManyRequests

WINDOW_SECONDS = 60.0
SETTING = "PIPEPULSE_ALERTS_TEST_SENDS_PER_MINUTE"


class TooManyTestSends(TooManyRequests):
    pass


class TestSendLimit:
    __test__ = False  # not a test class, whatever its name

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._sent: dict[tuple[int | None, str], deque[float]] = {}

    def take(self, organisation_id: int | None, channel_id: str, now: datetime) -> None:
        """Count one test send of the channel at ``now``, or raise 429 when it has had its share."""
        at = now.timestamp()
        # Forget what left the window, for every channel: the map stays as small as the traffic.
        for key in list(self._sent):
            sent = self._sent[key]
            while sent and sent[0] <= at - WINDOW_SECONDS:
                sent.popleft()
            if not sent:
                del self._sent[key]
        sent = self._sent.setdefault((organisation_id, channel_id), deque())
        if len(sent) >= self.per_minute:
            wait = max(1, math.ceil(sent[0] + WINDOW_SECONDS - at))
            raise TooManyTestSends(
                f"this channel was sent {self.per_minute} tests in the last minute (the limit,"
                f" {SETTING}); retry in {wait} s",
                retry_after=wait,
            )
        sent.append(at)
