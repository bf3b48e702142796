"""Delivering the outbox: each scheduler tick sends the notifications that are due.

A pass claims a batch in one short transaction (a lease: ``next_attempt_at`` moves past the
pass, so another replica skips them and a crashed sender's claims come back after
:data:`LEASE`), sends them concurrently with no transaction open, and records every outcome
in a second transaction, only where the claim is still its own. A claim that is lost after
the send means the notification goes again: delivery is at least once, and receivers drop
repeats by the ``id`` every attempt carries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pipepulse.db.session import Database
from pipepulse.delivery import backoff, channels, fairness, latency, outbox_repository, reposts, sender

log = logging.getLogger(__name__)

BATCH = 200
CONCURRENCY = 16
CONCURRENCY_PER_CHANNEL = 4
# How long one pass may take before it hands back what is unfinished (two 10 s attempts deep).
PASS_BUDGET_SECONDS = 25.0
# Far beyond one send (10 s), so a slow pass never has its claims taken from under it.
LEASE = timedelta(minutes=5)
GONE_REASON = "the receiver answered 410 Gone"


@dataclass(frozen=True)
class Claim:
    notification_id: str
    attempts: int  # including this one
    due_at: datetime
    payload: dict[str, Any]
    channel_id: str
    target: channels.Target
    enabled: bool


@dataclass(frozen=True)
class PassResult:
    delivered: int
    retrying: int
    failed: int


async def claim_due(session: AsyncSession, now: datetime, limit: int = BATCH) -> list[Claim]:
    """Take up to ``limit`` due notifications for this pass (see the module's docstring)."""
    due = fairness.fair_due(now, limit)
    # ``attempts`` counts the send this claim is for; a claim handed back unsent gives it
    # back (release).
    claimed = await outbox_repository.claim_notifications(session, due, now, now + LEASE)
    if not claimed:
        return []
    by_id = await outbox_repository.channel_targets(session, {row.channel_id for row in claimed})
    out = []
    for row in claimed:
        channel = by_id[row.channel_id]
        out.append(
            Claim(
                notification_id=row.id,
                attempts=row.attempts,
                due_at=row.due_at,
                payload=row.payload,
                channel_id=row.channel_id,
                target=channels.Target(
                    id=channel.id,
                    kind=channel.kind,
                    url=channel.url,
                    signing_secret=channel.signing_secret,
                    routing_key=channel.routing_key,
                    recipients=tuple(channel.recipients or ()),
                ),
                enabled=channel.enabled,
            )
        )
    return out


async def record(session: AsyncSession, claim: Claim, outcome: sender.Outcome, now: datetime) -> str:
    """Store one attempt's outcome; answers the notification's new state."""
    values: dict[str, Any] = {"last_status_code": outcome.status_code, "last_error": outcome.error}
    if outcome.delivered:
        values |= {"state": "delivered", "delivered_at": now, "next_attempt_at": None}
        values["repost_at"] = reposts.first_repost(claim.target.kind, claim.payload, now)
    elif outcome.gone or not claim.enabled:
        values |= {"state": "failed", "next_attempt_at": None}
    else:
        following = backoff.next_attempt(claim.due_at, claim.attempts, now)
        if following is None:
            values |= {
                "state": "failed",
                "next_attempt_at": None,
                "last_error": f"{outcome.error}; given up after {claim.attempts} attempts over 24 hours",
            }
        else:
            values |= {"state": "pending", "next_attempt_at": following}
    if not await outbox_repository.update_claimed(session, claim.notification_id, claim.attempts, values):
        return "lost"
    if outcome.gone:
        await outbox_repository.disable_channel(session, claim.channel_id, GONE_REASON, now)
    state: str = values["state"]
    return state


async def release(session: AsyncSession, claim: Claim, now: datetime, *, sent: bool = True) -> None:
    """Hand back a claim whose attempt the pass had to abandon: due again at the next pass.
    ``sent``: the request went out (it counts as an attempt); else the claim is not counted."""
    values = {
        "attempts": claim.attempts if sent else claim.attempts - 1,
        "next_attempt_at": now,
        "last_error": "the delivery pass ran out of time before the receiver answered",
    }
    await outbox_repository.update_claimed(session, claim.notification_id, claim.attempts, values)


async def deliver_due(
    db: Database,
    now: datetime,
    *,
    allow_private: bool,
    options: channels.Options | None = None,
    client: sender.Client | None = None,
    limit: int = BATCH,
    budget_seconds: float = PASS_BUDGET_SECONDS,
    observe_latency: Callable[[float], None] | None = None,
) -> PassResult:
    """One delivery pass over the notifications due at ``now``, within ``budget_seconds``;
    ``observe_latency`` is told each delivered change's detect-to-notify seconds."""
    async with db.session(write=True) as session:
        claims = await claim_due(session, now, limit)
    if not claims:
        return PassResult(0, 0, 0)
    kinds = options or channels.Options(allow_private=allow_private)
    own_client = client is None
    http = client or sender.new_client()
    gate = asyncio.Semaphore(CONCURRENCY)
    per_channel: dict[str, asyncio.Semaphore] = {}
    started: set[str] = set()

    # The pass's ``now`` is when it began; the receiver's 2xx comes later by the send's duration.
    began = time.monotonic()

    async def attempt(claim: Claim) -> sender.Outcome:
        if not claim.enabled:
            return sender.Outcome(False, None, "not sent: the channel is disabled")
        # One slow receiver holds at most a few of the pass's slots.
        channel_gate = per_channel.setdefault(claim.channel_id, asyncio.Semaphore(CONCURRENCY_PER_CHANNEL))
        async with channel_gate, gate:
            started.add(claim.notification_id)
            outcome = await channels.deliver(http, claim.target, claim.payload, now=now, options=kinds)
        if outcome.delivered and observe_latency is not None:
            answered = now + timedelta(seconds=time.monotonic() - began)
            seconds = latency.detect_to_notify_seconds(claim.payload, answered)
            if seconds is not None:
                observe_latency(seconds)
        return outcome

    tasks = [asyncio.create_task(attempt(claim)) for claim in claims]
    try:
        # The pass runs inside the scheduler's tick: receivers that never answer must not hold
        # up the next tick's seeding. What is unfinished is released for the next pass.
        await asyncio.wait(tasks, timeout=budget_seconds)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if own_client:
            await http.aclose()
    counts = {"delivered": 0, "pending": 0, "failed": 0, "lost": 0}
    async with db.session(write=True) as session:
        for claim, task in zip(claims, tasks, strict=True):
            if task.cancelled():
                await release(session, claim, now, sent=claim.notification_id in started)
                counts["pending"] += 1
                continue
            failure = task.exception()
            if failure is not None:  # a bug, not the receiver: retried with backoff all the same
                outcome = sender.Outcome(False, None, f"not sent: internal error ({type(failure).__name__})")
            else:
                outcome = task.result()
            state = await record(session, claim, outcome, now)
            counts[state] += 1
            fields = {
                "notification_id": claim.notification_id,
                "channel_id": claim.channel_id,
                "attempt": claim.attempts,
                "state": state,
                "status_code": outcome.status_code,
            }
            if outcome.delivered:
                log.info("notification delivered", extra=fields)
            else:
                log.warning("notification not delivered: %s", outcome.error, extra=fields)
    return PassResult(counts["delivered"], counts["pending"], counts["failed"])
