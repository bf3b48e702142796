"""The thin runner around the jobs: one tick, or ticks forever at a cadence."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.retention import service as retention
from pipepulse.runs import service as runs_service
from pipepulse.scheduler import jobs
from pipepulse.scheduler.dispatchers import Dispatcher, DispatchFailed
from pipepulse.watch.alerts import channels, delivery, evaluation
from pipepulse.watch.alerts import groups as alert_groups

log = logging.getLogger("pipepulse.scheduler")

# Invocations in flight at once: enough to keep a fan-out of thousands short, few enough
# not to flood a loader endpoint.
FAN_OUT_CONCURRENCY = 64
# Retention batches one tick may run (each its own short transaction): a backlog, e.g. on the
# first start with retention, is cleared over several ticks without delaying the next seeding.
RETENTION_BATCHES_PER_TICK = 50


def scheduler_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class TickResult:
    seeded: int
    orphaned: int
    dispatch_failures: int
    deleted: retention.Deleted | None = None
    evaluation: evaluation.PassResult = field(default_factory=lambda: evaluation.PassResult(0, 0, 0, 0))
    notifications: delivery.PassResult = field(default_factory=lambda: delivery.PassResult(0, 0, 0))


async def tick(
    db: Database, settings: Settings, dispatcher: Dispatcher, now: datetime, *, ident: str | None = None
) -> TickResult:
    """Seed due runs (committed before any invocation), sweep orphans, fan out, evaluate every
    connection (recording events and queueing their notifications), deliver due notifications, beat,
    apply retention."""
    async with db.session(write=True) as session:
        seeded = await jobs.seed_due_runs(session, now)
        orphaned = await jobs.sweep_orphans(session, now, settings.thresholds.orphan_window)

    limit = asyncio.Semaphore(FAN_OUT_CONCURRENCY)
    failures: list[tuple[jobs.SeededRun, str]] = []

    async def invoke(run: jobs.SeededRun) -> None:
        async with limit:
            try:
                await dispatcher.dispatch(run)
            except DispatchFailed as exc:
                failures.append((run, str(exc)))
            except Exception as exc:  # one broken invocation never stops the rest
                failures.append((run, f"loader invocation failed: {type(exc).__name__}: {exc}"))

    await asyncio.gather(*(invoke(run) for run in seeded))
    if failures:
        async with db.session(write=True) as session:
            for run, reason in failures:
                log.warning("dispatch failed: %s", reason, extra={"run_id": run.run_id})
                await runs_service.fail_pending(session, run.connection_id, run.run_id, reason, now)
    evaluated, notifications = evaluation.PassResult(0, 0, 0, 0), delivery.PassResult(0, 0, 0)
    try:
        evaluated, notifications = await alert_pass(db, settings, now)
    except Exception:  # alerting trouble never stops runs from being seeded, nor the heartbeat
        log.exception("alert pass failed; retrying next tick")
    async with db.session(write=True) as session:
        await jobs.beat(session, ident or scheduler_id(), now, len(seeded))
    deleted = await retention.apply(db, settings.thresholds, now, max_batches=RETENTION_BATCHES_PER_TICK)
    return TickResult(
        seeded=len(seeded),
        orphaned=orphaned,
        dispatch_failures=len(failures),
        deleted=deleted,
        evaluation=evaluated,
        notifications=notifications,
    )


async def alert_pass(
    db: Database, settings: Settings, now: datetime
) -> tuple[evaluation.PassResult, delivery.PassResult]:
    """Evaluate every connection (recording events and queueing notifications), then deliver
    the notifications that are due (SPEC §7.3)."""
    evaluated = await evaluation.evaluate(db, now, settings.thresholds, public_url=settings.public_url)
    # SPEC §7.4: queue what alert groups have to say, then deliver with everything else.
    await alert_groups.notify_due(db, now, public_url=settings.public_url)
    delivered = await delivery.deliver_due(
        db,
        now,
        allow_private=settings.alerts_allow_private_urls,
        options=channels.options_from(settings),
    )
    return evaluated, delivered


async def run_forever(
    db: Database,
    settings: Settings,
    dispatcher: Dispatcher,
    clock: Callable[[], datetime],
    stop: asyncio.Event,
    *,
    on_tick: Callable[[TickResult], None] | None = None,
) -> None:
    """Tick every ``scheduler_tick_seconds`` until ``stop`` is set; a failed tick is logged and retried."""
    ident = scheduler_id()
    while not stop.is_set():
        try:
            result = await tick(db, settings, dispatcher, clock(), ident=ident)
            if on_tick is not None:
                on_tick(result)
        except Exception:
            log.exception("scheduler tick failed; retrying next tick")
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.scheduler_tick_seconds)
        except TimeoutError:
            pass
    await dispatcher.close()
