"""Status history from change points (SPEC §7.1) against every run: the same answer, exactly.

The histories are stretches of one kind of run (delivering, empty, partial, failed, orphaned,
reported late) at one spacing, so that runs of a kind go on for days (the runs the change
points leave out), across UTC midnights, with gaps past 24 hours, ties on time and start,
and run ids that sort differently by bytes and by a locale.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import Over

from pipepulse.connections import repository as connections_repository
from pipepulse.db.models import Run as RunModel
from pipepulse.db.session import Database
from pipepulse.history import service as watch_service
from pipepulse.history.schemas import StatusHistoryOut
from pipepulse.rollups.rebuild import rebuild
from pipepulse.rules import Thresholds
from pipepulse.status import repository
from pipepulse.status.timeline import TICK, change_points, finished_runs, timeline
from tests.conftest import EXAMPLES, FrozenClock, Tenant, property_timeout
from tests.history.oracle import DAY, WINDOW, Run
from tests.history.test_status_history_api import create_connection

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
FIRST = NOW - timedelta(days=8)
HOUR = timedelta(hours=1)
TEN_MINUTES = timedelta(minutes=10)
THRESHOLDS = Thresholds(orphan_window=WINDOW)
KINDS = ["ok", "ok", "empty", "partial", "failed", "failed", "orphan", "late"]
SPACINGS = [
    timedelta(0),
    TICK,
    timedelta(minutes=5),
    timedelta(hours=1),
    timedelta(hours=7),
    timedelta(hours=25),
]


def _run(run_id: str, kind: str, at: datetime, events: int) -> Run:
    if kind == "orphan":
        return Run(id=run_id, started_at=at - WINDOW)
    if kind == "late":
        return Run(id=run_id, started_at=at - 3 * WINDOW, completed_at=at, events_delivered=events)
    return Run(
        id=run_id,
        started_at=at - timedelta(minutes=1),
        completed_at=at,
        events_delivered=0 if kind == "empty" else events,
        batches_dlq=2 if kind == "partial" else 0,
        error="boom" if kind == "failed" else None,
    )


@st.composite
def stretches(draw: st.DrawFn, most: int = 160) -> list[Run]:
    """Stretches of one kind at one spacing (plus a little jitter), from 8 days before NOW."""
    runs: list[Run] = []
    at = FIRST + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    for s in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(KINDS))
        spacing = draw(st.sampled_from(SPACINGS))
        # Mostly one amount a stretch (runs of one kind), now and then another.
        amounts = draw(st.sampled_from([[0], [3], [10], [3, 3, 3, 0], [0, 0, 0, 10]]))
        for i in range(draw(st.integers(1, 60))):
            if len(runs) >= most or at > NOW:
                return runs
            # Ids sort one way by bytes ('B' < '_' < 'a') and another by a locale.
            prefix = draw(st.sampled_from(["a", "B", "_"]))
            events = draw(st.sampled_from(amounts)) if kind in ("ok", "partial", "failed") else 3
            runs.append(_run(f"{prefix}{s}-{i:03d}", kind, at, events))
            at += spacing + draw(st.sampled_from([timedelta(0), timedelta(0), timedelta(seconds=1)]))
        at += draw(st.sampled_from([timedelta(0), timedelta(hours=3), timedelta(hours=26)]))
    return runs


def _range(data: st.DataObject) -> tuple[datetime, datetime]:
    minutes = data.draw(st.one_of(st.just(7 * 24 * 60), st.integers(1, 7 * 24 * 60)))
    start = NOW - timedelta(minutes=minutes, microseconds=data.draw(st.integers(0, 1)))
    end = data.draw(st.sampled_from([NOW, NOW, start + (NOW - start) / 2, start + TICK]))
    return start, end


@property_timeout(1)
@given(runs=stretches(most=400), data=st.data())
def test_change_points__random_history__timeline_statuses_are_those_of_every_run(
    runs: list[Run], data: st.DataObject
) -> None:
    # The statuses and where they change; the reasons and counts need the runs of the day
    # before each change too, which the service reads (tested below on the database).
    every = finished_runs(runs, WINDOW)
    start, end = _range(data)
    points = change_points(every, THRESHOLDS.error_status_runs)

    full = timeline(every, start, end, THRESHOLDS)
    sparse = timeline(points, start, end, THRESHOLDS)

    assert [(i.status, i.start, i.end) for i in sparse.intervals] == [
        (i.status, i.start, i.end) for i in full.intervals
    ]
    assert sparse.held_before == full.held_before


async def _store(db: Database, tenant: Tenant, connection_id: str, runs: list[Run]) -> None:
    rows = [
        {
            "connection_id": connection_id,
            "id": r.id,
            "organisation_id": tenant.id,
            "started_at": r.started_at,
            "completed_at": r.completed_at,
            "outcome": "pending"
            if r.completed_at is None
            else "failed"
            if r.error is not None
            else "partial"
            if r.batches_dlq
            else "succeeded",
            "events_delivered": r.events_delivered,
            "batches_dlq": r.batches_dlq,
            "error": r.error,
            "created_at": r.started_at,
        }
        for r in runs
    ]
    async with db.session(write=True) as session:
        if rows:
            await session.execute(insert(RunModel), rows)
        await rebuild(session, connection_id)


@property_timeout(3)
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(runs=stretches(), data=st.data())
async def test_status_history__change_points__the_answer_of_every_run_byte_for_byte(
    client: httpx.AsyncClient,
    tenant: Tenant,
    clock: FrozenClock,
    db: Database,
    runs: list[Run],
    data: st.DataObject,
) -> None:
    clock.now = NOW
    connection_id = await create_connection(client, tenant)
    await _store(db, tenant, connection_id, runs)
    start, end = _range(data)

    async with db.session() as session:
        connection = await connections_repository.get(session, tenant.id, connection_id)
        assert connection is not None
        lo, until = start - DAY - 2 * TICK, NOW
        # Read around the runs that are not healthy (the default when they are few), or
        # every run of the range (when they are not): the same runs either way.
        sparse_up_to = data.draw(st.sampled_from([0, 1, 5, repository.SPARSE_UP_TO]), label="sparse_up_to")
        read = await repository.change_point_runs(
            session, connection_id, lo, until, WINDOW, THRESHOLDS.error_status_runs, sparse_up_to=sparse_up_to
        )
        every = sorted(
            await repository.finished_runs_of(session, connection_id, lo, until, WINDOW),
            key=lambda r: (r.time, r.started_at, r.id),
        )
        sparse = await watch_service.status_history(session, connection, start, end, NOW, THRESHOLDS)
        full = await watch_service.status_history(
            session, connection, start, end, NOW, THRESHOLDS, every_run=True
        )

    # The database picks the runs the pure rule picks, with the failing runs up to each.
    assert [c.run for c in read] == change_points(every, THRESHOLDS.error_status_runs)
    for c in read:
        assert c.failing_upto == sum(
            1
            for r in every
            if r.failing and (r.time, r.started_at, r.id) <= (c.run.time, c.run.started_at, c.run.id)
        )
    # Intervals (with reasons and the runs that opened them) and incidents (streaks, first
    # errors, failing runs) are equal, and so is the response.
    assert sparse == full
    assert StatusHistoryOut.of(sparse).model_dump_json(by_alias=True) == StatusHistoryOut.of(
        full
    ).model_dump_json(by_alias=True)


@pytest.mark.parametrize("spacing", [timedelta(minutes=5), timedelta(hours=23, minutes=59)])
async def test_status_history__thirty_steady_days__reads_a_few_runs_a_day_not_every_run(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock, db: Database, spacing: timedelta
) -> None:
    clock.now = NOW
    connection_id = await create_connection(client, tenant)
    first = NOW - timedelta(days=31)
    count = int(timedelta(days=31) / spacing)
    runs = [_run(f"r{i:05d}", "ok", first + spacing * i, 10) for i in range(count)]
    await _store(db, tenant, connection_id, runs)

    async with db.session() as session:
        read = await repository.change_point_runs(
            session, connection_id, NOW - timedelta(days=31), NOW, WINDOW, THRESHOLDS.error_status_runs
        )
    # First and last of each UTC day (and of the whole): kept neighbours are under a day apart.
    days = {(first + spacing * i).date() for i in range(count)}
    assert len(read) <= 2 * len(days)
    times = [c.run.time for c in read]
    assert all(b - a <= DAY for a, b in itertools.pairwise(times))


def _both(runs: list[Run], start: datetime, end: datetime) -> tuple[list[tuple[str, datetime]], ...]:
    """(status, start) of each interval from every run and from the change points alone."""
    every = finished_runs(runs, WINDOW)
    points = change_points(every, THRESHOLDS.error_status_runs)
    return tuple(
        [(i.status, i.start) for i in timeline(of, start, end, THRESHOLDS).intervals]
        for of in (every, points)
    )


def test_change_points__history_opening_with_a_failing_streak__keeps_its_first_three_runs() -> None:
    # The first error_status_runs runs of a streak are kept even when it opens the runs read
    # (the rule the status-history read applies in SQL), then its last.
    at = NOW - 6 * HOUR
    runs = [_run(f"f{i}", "failed", at + i * TEN_MINUTES, 0) for i in range(6)]
    every = finished_runs(runs, WINDOW)
    assert [r.id for r in change_points(every, THRESHOLDS.error_status_runs)] == ["f0", "f1", "f2", "f5"]
    full, sparse = _both(runs, at - HOUR, NOW)
    assert full == [("idle", at - HOUR), ("error", at)]
    assert sparse == full


def test_change_points__one_event_between_runs_that_delivered_none__active_while_it_counts() -> None:
    at = NOW - 6 * HOUR
    kinds = [("e0", "empty", 0), ("d", "ok", 1), ("e1", "empty", 0), ("e2", "empty", 0)]
    runs = [_run(run_id, kind, at + i * TEN_MINUTES, n) for i, (run_id, kind, n) in enumerate(kinds)]
    full, sparse = _both(runs, at + 5 * TEN_MINUTES, NOW)
    assert full == [("active", at + 5 * TEN_MINUTES)]
    assert sparse == full


async def _read_is_the_rule(
    db: Database, connection_id: str, after: datetime, until: datetime, sparse_up_to: int
) -> list[str]:
    """The change-point read of ``(after, until]`` against the pure rule over every run of it
    (runs, then the failing runs up to each); the ids read, for the test to say what it shows."""
    async with db.session() as session:
        read = await repository.change_point_runs(
            session,
            connection_id,
            after,
            until,
            WINDOW,
            THRESHOLDS.error_status_runs,
            sparse_up_to=sparse_up_to,
        )
        every = sorted(
            await repository.finished_runs_of(session, connection_id, after, until, WINDOW),
            key=lambda r: (r.time, r.started_at, r.id),
        )
    assert [c.run for c in read] == change_points(every, THRESHOLDS.error_status_runs)
    assert [c.failing_upto for c in read] == [
        sum(
            1
            for r in every
            if r.failing and (r.time, r.started_at, r.id) <= (c.run.time, c.run.started_at, c.run.id)
        )
        for c in read
    ]
    return [c.run.id for c in read]


# Two UTC midnights inside the ranges below, and the instants on and beside every edge the
# read draws: the range's (after, until], each UTC day's first and last instant.
D1 = datetime(2026, 4, 18, tzinfo=UTC)
D2 = D1 + DAY
D3 = D2 + DAY
AFTERS = [D1 - TICK, D1 - 2 * TICK, D1 + 6 * HOUR]
UNTILS = [D3 - TICK, D3, D3 + 6 * HOUR]
EDGE_KINDS = ["ok", "empty", "partial", "failed", "orphan", "late"]


def _edge_run(run_id: str, kind: str, at: datetime, start: timedelta) -> Run:
    """A run of ``kind`` finished at ``at``, started ``start`` before it (an orphan too, so that
    a completed run and an orphan can tie on time and start and be ordered by id)."""
    if kind == "orphan":
        return Run(id=run_id, started_at=at - WINDOW)
    if kind == "late":
        return Run(id=run_id, started_at=at - start, completed_at=at, events_delivered=3)
    run = _run(run_id, kind, at, 3)
    return Run(
        id=run.id,
        started_at=at - start,
        completed_at=at,
        events_delivered=run.events_delivered,
        batches_dlq=run.batches_dlq,
        error=run.error,
    )


@st.composite
def edge_histories(draw: st.DrawFn) -> tuple[datetime, datetime, list[Run], int]:
    """A range and a few runs finished on and beside its edges and the UTC midnights in it,
    tied on time, on start, or on both (then ordered by id bytes: 'B' < '_' < 'a')."""
    after, until = draw(st.sampled_from(AFTERS)), draw(st.sampled_from(UNTILS))
    instants = [e + d for e in (after, until, D1, D2, D3) for d in (-TICK, timedelta(0), TICK)] + [
        D2 - 6 * HOUR,
        D2 + 6 * HOUR,
    ]
    runs = [
        _edge_run(
            f"{draw(st.sampled_from(['a', 'B', '_']))}{i}",
            draw(st.sampled_from(EDGE_KINDS)),
            draw(st.sampled_from(instants)),
            draw(st.sampled_from([timedelta(minutes=1), WINDOW])),
        )
        for i in range(draw(st.integers(1, 10)))
    ]
    return after, until, runs, draw(st.sampled_from([0, 1, 3, repository.SPARSE_UP_TO]))


# Each example's run at an edge, the others where a neighbour or a day's first or last run
# would be read from the wrong side of it. The last: an orphan started in the last half
# millisecond of a second, tied on its finish with a run that started later (SQLite's
# datetime() read the fraction to the millisecond and finished the orphan a second late).
# Before it: a day's last run a microsecond before a run on the next midnight. First: an
# orphan finished on the range's first instant (read by its start, a window earlier).
@example((D1 - TICK, D3, [_edge_run("a0", "orphan", D1, HOUR), _edge_run("a1", "ok", D1 + HOUR, HOUR)], 3))
@example((D1 - TICK, D3 - TICK, [_edge_run("a0", "ok", D1, HOUR), _edge_run("a1", "ok", D1 + TICK, HOUR)], 3))
@example(
    (D1 - TICK, D3, [_edge_run("a0", "failed", D2 - HOUR, HOUR), _edge_run("a1", "ok", D2 - TICK, HOUR)], 3)
)
@example(
    (
        D1 - TICK,
        D3,
        [
            _edge_run("a0", "ok", D2 - 6 * HOUR, HOUR),
            _edge_run("a1", "ok", D2 - TICK, HOUR),
            _edge_run("a2", "ok", D2, HOUR),
        ],
        3,
    )
)
@example(
    (
        D1 - TICK,
        D3 - TICK,
        [_edge_run("a0", "ok", D3 - 2 * TICK, HOUR), _edge_run("a1", "orphan", D3 - 2 * TICK, HOUR)],
        0,
    )
)
@property_timeout(1)
@settings(
    max_examples=min(EXAMPLES, 100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=edge_histories())
async def test_change_point_runs__runs_on_the_edges_of_the_range_and_its_days__the_runs_of_the_rule(
    client: httpx.AsyncClient,
    tenant: Tenant,
    clock: FrozenClock,
    db: Database,
    history: tuple[datetime, datetime, list[Run], int],
) -> None:
    # The read bounds each index probe by the range and by a UTC day, and finds an odd run's
    # neighbours by (finished time, start, id): a run exactly on a bound, or tied with its
    # neighbour, is read from the right side of it or the read and the rule part.
    after, until, runs, sparse_up_to = history
    clock.now = NOW
    connection_id = await create_connection(client, tenant)
    await _store(db, tenant, connection_id, runs)
    await _read_is_the_rule(db, connection_id, after, until, sparse_up_to)


async def test_change_point_runs__orphans_and_a_partial_run_among_deliveries__their_neighbours_read(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock, db: Database
) -> None:
    # Among runs every five minutes that deliver, the runs that are not healthy are read by
    # index probes and their neighbours around them: an orphan around the instant it finished
    # (its start plus the window, not its start), tied there with runs of the same start that
    # only their ids order ('B' < 'o' < 'z'); a partial run that delivered events, with a
    # single dead-lettered batch (failing, not quiet). None of those neighbours is a day's
    # first or last run.
    clock.now = NOW
    connection_id = await create_connection(client, tenant)
    at = [D2 + HOUR + i * 5 * timedelta(minutes=1) for i in range(25)]
    orphan, tied = at[8] + timedelta(minutes=2), at[12] + timedelta(minutes=2)
    runs = [_run(f"a{i:02d}", "ok", t, 3) for i, t in enumerate(at)] + [
        _run("o1", "orphan", orphan, 0),
        _edge_run("B", "ok", tied, WINDOW),
        _run("o2", "orphan", tied, 0),
        _edge_run("z", "ok", tied, WINDOW),
        replace(_run("p", "partial", at[16] + timedelta(minutes=2), 3), batches_dlq=1),
    ]
    await _store(db, tenant, connection_id, runs)

    read = await _read_is_the_rule(db, connection_id, D2, D2 + 4 * HOUR, repository.SPARSE_UP_TO)
    assert read == ["a00", "a08", "o1", "a09", "B", "o2", "z", "a16", "p", "a17", "a24"]


@pytest.mark.parametrize("sparse_up_to", [0, repository.SPARSE_UP_TO])
async def test_change_point_runs__a_run_delivering_one_event_among_deliveries__healthy_like_them(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock, db: Database, sparse_up_to: int
) -> None:
    # A run that delivered a single event is of a delivering run's kind: among runs every five
    # minutes that deliver more, it is no change point, read over every run or by probes.
    clock.now = NOW
    connection_id = await create_connection(client, tenant)
    at = [D2 + HOUR + i * 5 * timedelta(minutes=1) for i in range(9)]
    runs = [_run(f"a{i:02d}", "ok", t, 1 if i == 4 else 3) for i, t in enumerate(at)]
    await _store(db, tenant, connection_id, runs)

    read = await _read_is_the_rule(db, connection_id, D2, D2 + 4 * HOUR, sparse_up_to)
    assert read == ["a00", "a08"]


@pytest.mark.parametrize("sparse_up_to", [0, repository.SPARSE_UP_TO])
async def test_change_point_runs__one_success_then_a_failing_streak__its_first_runs_kept(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock, db: Database, sparse_up_to: int
) -> None:
    # The range opens with a single succeeding run, then fails every five minutes: the streak
    # after that one run is its first, and its first failing runs are kept as a streak's are
    # (the place in a streak counts from the run after the success that opens it).
    clock.now = NOW
    connection_id = await create_connection(client, tenant)
    at = [D2 + HOUR + i * 5 * timedelta(minutes=1) for i in range(7)]
    runs = [_run(f"a{i:02d}", "ok" if i == 0 else "failed", t, 3) for i, t in enumerate(at)]
    await _store(db, tenant, connection_id, runs)

    read = await _read_is_the_rule(db, connection_id, D2, D2 + 4 * HOUR, sparse_up_to)
    assert read == ["a00", "a01", "a02", "a03", "a06"]


@pytest.fixture
async def ids_in_a_language_collation(db: Database) -> AsyncIterator[None]:
    """``runs.id`` collated by a language (ICU English), as on a server whose databases default
    to a language locale: ids then sort '_' < 'a' < 'B', not by their bytes ('B' < '_' < 'a')."""
    alter = "ALTER TABLE runs ALTER COLUMN id TYPE varchar(64) COLLATE {}"

    async def collate(name: str) -> None:
        async with db.session(write=True) as session:
            await session.execute(text(alter.format(name)))
        # The pooled connections' prepared statements were planned for the table as it was.
        await db.dispose()

    await collate('"en-x-icu"')
    try:
        yield
    finally:
        await collate('"default"')


@pytest.mark.only_on("postgres")
@pytest.mark.usefixtures("ids_in_a_language_collation")
@pytest.mark.parametrize("sparse_up_to", [0, repository.SPARSE_UP_TO])
async def test_change_point_runs__ids_in_a_language_collation__tied_runs_ordered_by_their_bytes(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock, db: Database, sparse_up_to: int
) -> None:
    # Runs every five minutes, some instants shared by three runs of one start whose ids a
    # language orders otherwise than their bytes: the day's first and last runs, an odd run's
    # neighbours, the windows over the runs, a streak's first runs and the answer's order are
    # all by (finished time, start, id bytes), whatever the column's collation.
    clock.now = NOW
    connection_id = await create_connection(client, tenant)
    at = [D2 + HOUR + i * 5 * timedelta(minutes=1) for i in range(13)]

    def tied(i: int, *kinds: str) -> list[Run]:
        return [_run(f"{prefix}{i}", kind, at[i], 3) for prefix, kind in zip("B_a", kinds, strict=True)]

    runs = [
        *tied(0, "ok", "ok", "ok"),  # the day's first run: B0, not _0
        *(_run(f"c{i}", "ok", at[i], 3) for i in (1, 2, 3, 6, 7, 11)),
        *tied(4, "ok", "ok", "ok"),  # a4 just before the failing B5, not B4
        *tied(5, "failed", "ok", "ok"),  # B5's neighbours: a4 and _5, not a5 and c6
        _run("f8", "failed", at[8], 3),
        *tied(9, "failed", "failed", "failed"),  # the streak's 2nd and 3rd: B9, _9, not a9
        _run("f10", "failed", at[10], 3),
        *tied(12, "ok", "ok", "ok"),  # the day's last run: a12, not B12
    ]
    await _store(db, tenant, connection_id, runs[::-1])
    async with db.session() as session:
        by_the_column = text("SELECT id FROM runs WHERE id IN ('B0', '_0', 'a0') ORDER BY id")
        assert list((await session.execute(by_the_column)).scalars()) == ["_0", "a0", "B0"]

    read = await _read_is_the_rule(db, connection_id, D2, D2 + 4 * HOUR, sparse_up_to)
    assert read == ["B0", "a4", "B5", "_5", "c7", "f8", "B9", "_9", "f10", "c11", "a12"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_change_points_statement__every_window_and_the_answer__ordered_by_time_start_and_id_bytes(
    database: str,
) -> None:
    # SQL orders a window's rows, or the answer's, only as its ORDER BY says. Both databases
    # hand the windows of this read their rows already sorted (an unordered window runs over
    # the ordered ones' output; a sort keeps rows that tie in the order they came), so a window
    # that lost its order, or the id from it, reads the same there whatever the runs: the order
    # is checked on the statement, every window and the answer by (finished time, start, id
    # bytes), a streak's place within its streak; and so are the index probes, for the
    # language-collated database above (SQLite's ids are bytes whatever the statement says).
    engine_dialect = postgresql.dialect() if database == "postgresql" else sqlite.dialect()
    statement = repository._change_points(database)
    by_id = ' COLLATE "C"' if database == "postgresql" else ""

    def key(of: str) -> str:
        return f"ORDER BY {of}.time, {of}.started_at, {of}.id{by_id}"

    windows = sorted(
        str(e.compile(dialect=engine_dialect)).split(" OVER ", 1)[1]
        for e in visitors.iterate(statement)
        if isinstance(e, Over)
    )
    upto = " ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    assert windows == sorted(
        [f"({key('kinds')})"] * 4
        + [f"({key('kinds')}{upto})"] * 2
        + [f"(PARTITION BY marked.streak {key('marked')})"]
    )
    sql = str(statement.compile(dialect=engine_dialect))
    assert sql.endswith(f" {key('placed')}")
    # And the index probes (an odd run's neighbours, a day's first and last run), down or up.
    probes = [
        re.sub(r"runs_\d+", "r", o) for o in re.findall(r"ORDER BY (runs_.*?)\s*LIMIT", sql, flags=re.S)
    ]
    down, up = (
        f"r.completed_at DESC, r.started_at DESC, r.id{by_id} DESC",
        f"r.completed_at, r.started_at, r.id{by_id}",
    )
    assert sorted(probes) == sorted([down, down, up, up])
