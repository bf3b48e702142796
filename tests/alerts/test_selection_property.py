"""The horizon against the brute-force oracle: with unchanged inputs, neither a connection's
status nor its lateness changes before the horizon the incremental evaluation computes.

Histories come from the timeline's property test (a coarse grid, ties, microsecond wobbles,
orphans, late reports); the edges are computed from them the way ``selection_repository`` reads
them, and every instant where something could change is checked against the oracle.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pipepulse.alerts.selection import Edges, Inputs, answer_horizon, horizon
from pipepulse.rollups.plan import TICK
from tests.history import oracle
from tests.history.oracle import DAY, WINDOW, Run
from tests.history.test_timeline_property import BASE, _offset, histories

N = 3  # error_status_runs


def _edges(runs: list[Run], now: datetime) -> Edges:
    done = sorted(
        (r.completed_at for r in runs if r.completed_at is not None and r.completed_at <= now), reverse=True
    )
    pending = [r.started_at for r in runs if r.completed_at is None]
    return Edges(
        nth_completed=done[N - 1] if len(done) >= N else None,
        oldest_in_window=min((t for t in done if t > now - DAY), default=None),
        next_completion=min(
            (r.completed_at for r in runs if r.completed_at and r.completed_at > now), default=None
        ),
        pending_start=min((s for s in pending if s > now - WINDOW), default=None),
        orphan_start=min((s for s in pending if now - WINDOW - DAY < s <= now - WINDOW), default=None),
    )


def _inputs(runs: list[Run], created_at: datetime, sla: timedelta) -> Inputs:
    completed = [r for r in runs if r.completed_at is not None]
    return Inputs(
        state="connected",
        created_at=created_at,
        sla=sla,
        last_failing_at=max(
            (r.completed_at for r in completed if oracle.outcome(r) != "succeeded"), default=None
        ),  # type: ignore[type-var]
        last_delivery_at=max((r.completed_at for r in completed if r.events_delivered > 0), default=None),  # type: ignore[type-var]
    )


def _late(runs: list[Run], t: datetime, created_at: datetime, sla: timedelta) -> bool:
    delivered = [
        r.completed_at for r in runs if r.completed_at and r.completed_at <= t and r.events_delivered > 0
    ]
    since = max(delivered) if delivered else created_at
    return t - since > sla


def _instants(runs: list[Run], sla: timedelta) -> list[datetime]:
    """Where the answer can change: finishing, leaving the window, running out of the SLA."""
    out = []
    for r in runs:
        f = oracle.finished_at(r, WINDOW)
        out += [f, f + DAY]
        if r.completed_at is not None and r.events_delivered > 0:
            out.append(r.completed_at + sla)
    return out


@given(
    runs=histories(),
    data=st.data(),
    sla_minutes=st.sampled_from([10, 45, 135, 24 * 60 + 15]),
)
def test_horizon__nothing_changes_before_it(runs: list[Run], data: st.DataObject, sla_minutes: int) -> None:
    created_at = BASE - DAY
    sla = timedelta(minutes=sla_minutes)
    # Mostly just before an instant where something changes: the cases a late horizon misses.
    near = _instants(runs, sla)
    if near and data.draw(st.booleans()):
        before = data.draw(
            st.sampled_from([TICK, timedelta(seconds=1), timedelta(minutes=5), timedelta(hours=3)])
        )
        now = data.draw(st.sampled_from(near)) - before
    else:
        now = BASE + data.draw(_offset())
    found = answer_horizon(_inputs(runs, created_at, sla), _edges(runs, now), now, WINDOW)
    h = found if found is not None else now + 30 * DAY
    assert h >= now
    # Every instant at which the oracle's answer can change, and the last instant before h.
    critical = {h - TICK, created_at + sla + TICK} | {t + TICK for t in _instants(runs, sla)}
    critical |= set(_instants(runs, sla))
    status, late = oracle.status_at(runs, now, WINDOW, N), _late(runs, now, created_at, sla)
    for t in sorted(c for c in critical if now < c < h):
        assert oracle.status_at(runs, t, WINDOW, N) == status, t
        assert _late(runs, t, created_at, sla) == late, t


@given(runs=histories(), now_offset=_offset())
def test_horizon__never_past_the_next_hour(runs: list[Run], now_offset: timedelta) -> None:
    """The volume verdict is judged once per complete hour: every connection is visited then."""
    now = BASE + now_offset
    h = horizon(_inputs(runs, BASE - DAY, timedelta(days=30)), _edges(runs, now), now, WINDOW)
    assert h <= now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
