"""The thin runner around the jobs: one tick, or loops on their own cadence until stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pipepulse.alerts import evaluation, selection, shares_store
from pipepulse.alerts import groups as alert_groups
from pipepulse.alerts.shares import PARTITIONS
from pipepulse.config import Settings
from pipepulse.db.engine import embedded
from pipepulse.db.session import Database
from pipepulse.delivery import channels, heartbeats, reposts
from pipepulse.delivery import service as delivery
from pipepulse.objectives import alerting as objective_alerts
from pipepulse.retention import service as retention
from pipepulse.runs import service as runs_service
from pipepulse.scheduler import jobs
from pipepulse.scheduler.dispatchers import Dispatcher, DispatchFailed, NoDispatcher

log = logging.getLogger(__name__)

# Invocations in flight at once: enough to keep a fan-out of thousands short, few enough
# not to flood a loader endpoint.
FAN_OUT_CONCURRENCY = 64
# Retention batches one tick may run (each its own short transaction): a backlog, e.g. on the
# first start with retention, is cleared over several ticks without delaying the next seeding.
RETENTION_BATCHES_PER_TICK = 50
# The seeding loop wakes at the next due slot, and at least this often (a connection created
# or resumed meanwhile is due at once).
SEED_WAKE_SECONDS = 1.0
# Never spin: rows another replica is claiming stay due until it commits.
MIN_SEED_WAIT_SECONDS = 0.05
# What every evaluation pass runs after its status events (SPEC §7.6: objectives' burn
# conditions open and end alerts the same way).
EVALUATION_STEPS: tuple[evaluation.Step, ...] = (objective_alerts.record,)


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


async def seed_pass(
    db: Database,
    dispatcher: Dispatcher,
    now: datetime,
    limit: asyncio.Semaphore,
    metrics: SchedulerMetrics | None = None,
) -> tuple[list[jobs.SeededRun], list[asyncio.Task[int]]]:
    """Claim and seed every due connection in batches, each committed before its invocations.

    The invocations of each batch go on in a task (returned) so a slow loader never holds up
    the next claim; each task gives the number of failed invocations."""
    seeded: list[jobs.SeededRun] = []
    fan_outs: list[asyncio.Task[int]] = []
    while True:
        async with db.session(write=True) as session:
            batch = await jobs.seed_due_runs(session, now, limit=jobs.SEED_BATCH)
        if not batch:
            break
        seeded.extend(batch)
        # Seed only: nothing to invoke, so no task of one no-op coroutine per run.
        if not isinstance(dispatcher, NoDispatcher):
            fan_outs.append(asyncio.create_task(fan_out(db, dispatcher, batch, now, limit, metrics)))
        if len(batch) < jobs.SEED_BATCH:
            break
    return seeded, fan_outs


async def fan_out(
    db: Database,
    dispatcher: Dispatcher,
    runs: list[jobs.SeededRun],
    now: datetime,
    limit: asyncio.Semaphore,
    metrics: SchedulerMetrics | None = None,
) -> int:
    """Invoke the loader for each run (bounded); a failed invocation fails that run only.
    Returns the number of failed invocations."""
    failures: list[tuple[jobs.SeededRun, str]] = []
    # The "none" dispatcher sends nothing (a loader elsewhere completes the runs): counting its
    # calls as sent invocations would tell an operator that loaders are being invoked.
    sends = metrics is not None and not isinstance(dispatcher, NoDispatcher)
    counted = metrics.invocations if metrics is not None and sends else None

    async def invoke(run: jobs.SeededRun) -> None:
        async with limit:
            outcome = "failed"
            try:
                await dispatcher.dispatch(run)
                outcome = "sent"
            except DispatchFailed as exc:
                failures.append((run, str(exc)))
            except Exception as exc:  # one broken invocation never stops the rest
                failures.append((run, f"loader invocation failed: {type(exc).__name__}: {exc}"))
            if counted is not None:
                counted.labels(outcome).inc()

    await asyncio.gather(*(invoke(run) for run in runs))
    if failures:
        try:
            async with db.session(write=True) as session:
                for run, reason in failures:
                    log.warning("dispatch failed: %s", reason, extra={"run_id": run.run_id})
                    await runs_service.fail_pending(session, run.connection_id, run.run_id, reason, now)
        except Exception:  # the runs stay pending and are orphaned in time
            log.exception("recording failed invocations failed")
    return len(failures)


async def tick(
    db: Database, settings: Settings, dispatcher: Dispatcher, now: datetime, *, ident: str | None = None
) -> TickResult:
    """Everything once, in sequence (``pipepulse scheduler --once``): seed due runs (each batch
    committed before its invocations), fan out, sweep orphans, evaluate every connection
    (recording events and queueing their notifications), deliver due notifications, beat, apply
    retention."""
    seeded, fan_outs = await seed_pass(db, dispatcher, now, asyncio.Semaphore(FAN_OUT_CONCURRENCY))
    failures = sum(await asyncio.gather(*fan_outs))
    async with db.session(write=True) as session:
        orphaned = await jobs.sweep_orphans(session, now, settings.thresholds.orphan_window)
    evaluated, notifications = evaluation.PassResult(0, 0, 0, 0), delivery.PassResult(0, 0, 0)
    try:
        evaluated, notifications = await alert_pass(db, settings, now, scheduler=ident)
    except Exception:  # alerting trouble never stops runs from being seeded, nor the heartbeat
        log.exception("alert pass failed; retrying next tick")
    async with db.session(write=True) as session:
        await jobs.beat(session, ident or scheduler_id(), now, len(seeded))
    deleted = await retention.apply(db, settings.thresholds, now, max_batches=RETENTION_BATCHES_PER_TICK)
    return TickResult(
        seeded=len(seeded),
        orphaned=orphaned,
        dispatch_failures=failures,
        deleted=deleted,
        evaluation=evaluated,
        notifications=notifications,
    )


async def alert_pass(
    db: Database,
    settings: Settings,
    now: datetime,
    *,
    scheduler: str | None = None,
    metrics: SchedulerMetrics | None = None,
    tracker: selection.Tracker | None = None,
    shares: shares_store.EvaluationShares | None = None,
    sweep: alert_groups.Sweep | None = None,
) -> tuple[evaluation.PassResult, delivery.PassResult]:
    """Evaluate every connection (recording events and queueing notifications), then deliver
    the notifications that are due (SPEC §7.3).

    With a ``tracker``, only what changed or reached its horizon is evaluated; with
    ``shares``, only the connections of the partitions this replica holds (delivery is shared
    by claims)."""
    started = time.monotonic()
    share = await shares.claim(now) if shares is not None else None
    evaluated = await evaluation.evaluate(
        db, now, settings.thresholds, tracker=tracker, share=share, steps=EVALUATION_STEPS
    )
    evaluated_at = time.monotonic()
    # SPEC §7.4: queue what alert groups have to say, then deliver with everything else.
    queued = await alert_groups.notify_due(
        db, now, public_url=settings.public_url, every_group=sweep is not None and sweep.due(now)
    )
    evaluated = replace(evaluated, notifications=queued)
    grouped_at = time.monotonic()
    delivered = await delivery.deliver_due(
        db,
        now,
        allow_private=settings.alerts_allow_private_urls,
        options=channels.options_from(settings),
        observe_latency=metrics.detect_to_notify.observe if metrics is not None else None,
    )
    # SPEC §7.5: Alertmanager resolves what is not posted again before its endsAt.
    await reposts.repost_due(db, now, options=channels.options_from(settings))
    # SPEC §7.5 watchdog: this scheduler's heartbeats, sent only while its passes run.
    await heartbeats.send_due(
        db,
        now,
        scheduler=scheduler or scheduler_id(),
        options=channels.options_from(settings),
        public_url=settings.public_url,
    )
    # Where a slow pass spends its time (evaluation, the group pass, delivery and the rest).
    log.debug(
        "alert pass phases: evaluation %.3fs, groups %.3fs, delivery %.3fs",
        evaluated_at - started,
        grouped_at - evaluated_at,
        time.monotonic() - grouped_at,
    )
    return evaluated, delivered


class SchedulerMetrics:
    """The scheduler's own series (served on ``PIPEPULSE_SCHEDULER_METRICS_PORT``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.lag = Histogram(
            "pipepulse_scheduler_seeding_lag_seconds",
            "Seeded started_at minus the grid slot the run was due at.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.loop = Histogram(
            "pipepulse_scheduler_loop_seconds",
            "Duration of one pass of a scheduler loop (seeding, alerts, housekeeping).",
            ["loop"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.backlog = Gauge(
            "pipepulse_scheduler_due_backlog",
            "Connections due and not yet claimed after this replica's last seeding pass.",
            registry=self.registry,
        )
        self.partitions = Gauge(
            "pipepulse_scheduler_evaluation_partitions",
            "Partitions of the connections this replica evaluated in its last alert pass (of 32;"
            " all of them on SQLite, a single-scheduler layout).",
            registry=self.registry,
        )
        self.missed = Counter(
            "pipepulse_scheduler_missed_slots",
            "Grid slots that passed entirely without a run (never run afterwards).",
            registry=self.registry,
        )
        self.detect_to_notify = Histogram(
            "pipepulse_alert_detect_to_notify_seconds",
            "From a change's instant (SPEC §7.3 at; a group's newest start or end) to the receiver's 2xx,"
            " per notification this replica delivered.",
            buckets=(1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400),
            registry=self.registry,
        )
        self.seeded = Counter(
            "pipepulse_scheduler_seeded_runs", "Runs this replica seeded.", registry=self.registry
        )
        self.invocations = Counter(
            "pipepulse_scheduler_invocations",
            "Loader invocations this replica made, by outcome: sent (the loader accepted it) or"
            " failed (refused, timed out or unreachable: the run is recorded as failed).",
            ["outcome"],
            registry=self.registry,
        )


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        pass


async def run_forever(
    db: Database,
    settings: Settings,
    dispatcher: Dispatcher,
    clock: Callable[[], datetime],
    stop: asyncio.Event,
    *,
    on_tick: Callable[[TickResult], None] | None = None,
    metrics: SchedulerMetrics | None = None,
) -> None:
    """Three loops on their own cadence until ``stop`` is set, each logging and retrying a
    failed pass:

    - seeding wakes at the next due slot (at least once a second), claims and seeds what is
      due and hands the invocations to background tasks, then beats;
    - alerts evaluate and deliver every ``scheduler_alert_seconds``, so a report that turns a
      connection to ``error`` reaches a receiver within seconds;
    - housekeeping sweeps orphans and applies retention every ``scheduler_tick_seconds``.
    """
    ident = scheduler_id()
    metrics = metrics or SchedulerMetrics()
    # Slots that came before this scheduler started are catch-up (downtime, or the demo's
    # set-up after its backfill), not lag of this scheduler: see :func:`_observe`.
    since = clock()
    limit = asyncio.Semaphore(FAN_OUT_CONCURRENCY)
    in_flight: set[asyncio.Task[int]] = set()

    async def seeding() -> None:
        while not stop.is_set():
            started = time.monotonic()
            wait = SEED_WAKE_SECONDS
            try:
                now = clock()
                seeded, fan_outs = await seed_pass(db, dispatcher, now, limit, metrics)
                for task in fan_outs:
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                async with db.session(write=True) as session:
                    await jobs.beat(session, ident, now, len(seeded))
                async with db.session() as session:
                    backlog, upcoming = await jobs.due_outlook(session, clock())
                worst = _observe(metrics, seeded, now, since)
                metrics.backlog.set(backlog)
                elapsed = time.monotonic() - started
                metrics.loop.labels("seeding").observe(elapsed)
                log.debug(
                    "seeding pass: %d seeded, lag max %.2fs, backlog %d, %d fan-out(s) in flight, %.3fs",
                    len(seeded),
                    worst,
                    backlog,
                    len(in_flight),
                    elapsed,
                )
                if worst > settings.scheduler_lag_warning_seconds:
                    log.warning(
                        "seeding lag %.1fs is past %gs: the scheduler is not keeping its slots",
                        worst,
                        settings.scheduler_lag_warning_seconds,
                    )
                if upcoming is not None and not backlog:
                    wait = min(SEED_WAKE_SECONDS, upcoming - clock().timestamp())
                if on_tick is not None:
                    on_tick(TickResult(seeded=len(seeded), orphaned=0, dispatch_failures=0))
            except Exception:
                log.exception("seeding pass failed; retrying")
            await _wait(stop, max(MIN_SEED_WAIT_SECONDS, wait))

    async def alerts() -> None:
        tracker = selection.Tracker()
        sweep = alert_groups.Sweep()
        # An embedded database (SQLite) is a single-scheduler layout: the one scheduler
        # evaluates every connection.
        shares = (
            None
            if embedded(settings.resolved_database_url)
            else shares_store.EvaluationShares(
                db, ident, timedelta(seconds=settings.scheduler_evaluation_lease_seconds)
            )
        )
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    found, sent = await alert_pass(
                        db,
                        settings,
                        clock(),
                        scheduler=ident,
                        metrics=metrics,
                        tracker=tracker,
                        shares=shares,
                        sweep=sweep,
                    )
                    elapsed = time.monotonic() - started
                    metrics.loop.labels("alerts").observe(elapsed)
                    share = shares.last if shares is not None else None
                    held = len(share.held) if share is not None else PARTITIONS
                    metrics.partitions.set(held)
                    if share is not None and share.taken:
                        log.info(
                            "took over %d evaluation partition(s): %s", len(share.taken), sorted(share.taken)
                        )
                    log.debug(
                        "alert pass: %d connection(s) evaluated, %d unchanged, %d event(s), "
                        "%d notification(s) queued, %d delivered, %d partition(s) held, %.3fs",
                        found.connections,
                        found.skipped,
                        found.events,
                        found.notifications,
                        sent.delivered,
                        held,
                        elapsed,
                    )
                except Exception:  # alerting trouble never stops runs from being seeded
                    log.exception("alert pass failed; retrying")
                await _wait(stop, settings.scheduler_alert_seconds)
        finally:
            if shares is not None:
                try:
                    await shares.release()
                except Exception:  # the leases run out by themselves
                    log.exception("releasing the evaluation shares failed")

    async def housekeeping() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                now = clock()
                async with db.session(write=True) as session:
                    orphaned = await jobs.sweep_orphans(session, now, settings.thresholds.orphan_window)
                deleted = await retention.apply(
                    db, settings.thresholds, now, max_batches=RETENTION_BATCHES_PER_TICK
                )
                elapsed = time.monotonic() - started
                metrics.loop.labels("housekeeping").observe(elapsed)
                log.debug(
                    "housekeeping pass: %d orphaned, %d row(s) past retention deleted, %.3fs",
                    orphaned,
                    deleted.total if deleted is not None else 0,
                    elapsed,
                )
            except Exception:
                log.exception("housekeeping pass failed; retrying")
            await _wait(stop, settings.scheduler_tick_seconds)

    try:
        await asyncio.gather(seeding(), alerts(), housekeeping())
    finally:
        if in_flight:
            await asyncio.gather(*list(in_flight), return_exceptions=True)
        await dispatcher.close()


def _observe(
    metrics: SchedulerMetrics, seeded: list[jobs.SeededRun], now: datetime, since: datetime | None = None
) -> float:
    """Record each run's seeding lag and missed slots; the worst lag of the pass.

    A run whose slot came before ``since`` (when this scheduler started) is catch-up: it is
    seeded at once, logged, and neither observed as lag nor warned about."""
    worst = 0.0
    missed = caught_up = 0
    for run in seeded:
        if since is not None and run.slot_epoch is not None and run.slot_epoch < since.timestamp():
            caught_up += 1
        else:
            lag = run.lag_seconds(now)
            metrics.lag.observe(lag)
            worst = max(worst, lag)
        missed += run.missed_slots
    metrics.seeded.inc(len(seeded))
    if missed:
        metrics.missed.inc(missed)
        log.info("%d slot(s) passed without a run and were skipped (never run late)", missed)
    if caught_up:
        log.info("%d run(s) due before this scheduler started were seeded now (catch-up, not lag)", caught_up)
    return worst
