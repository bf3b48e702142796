"""What the group pass decides for one group at an instant (SPEC §7.4), as a pure function.

:func:`look` reads a group, its rule, its alerts and the silences and maintenance windows of
their organisations, and answers which alerts the group tells, whether a notification is due
now, whether the group closes, and **when it next needs looking at if nothing wakes it** — the
earliest instant at which the clock alone can change the answer: the timing's next
notification, an alert held back by ``min_duration_seconds`` joining, a silence or window over
one of its alerts beginning or ending. The group pass reads a group only then, or when a change
wakes it; ``tests/alerts/test_group_look_property.py`` checks that a look at any instant before
that one would have had nothing to do.

Duck-typed like :mod:`silences`: the group, rule, alerts, silences and windows are the stored
rows or anything with the same attributes (aware UTC datetimes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipepulse.alerts import grouping, maintenance, silences

# An organisation's silences and maintenance windows (the platform's included).
Silencers = tuple[Sequence[Any], Sequence[Any]]


@dataclass(frozen=True)
class Look:
    """``told``: the alerts a notification would list (with ``marks``, each alert's silencers);
    ``current``: their (id, firing?) set; ``send``: a notification is due now; ``close``: the
    group closes now; ``next_look``: when to look again if nothing wakes it (None: only then)."""

    told: tuple[Any, ...]
    marks: Mapping[str, list[str]]
    current: frozenset[tuple[str, bool]]
    send: bool
    close: bool
    next_look: datetime | None


def look(
    group: Any, rule: Any, alerts: Sequence[Any], silencers: Mapping[int, Silencers], now: datetime
) -> Look:
    # An alert is silenced by its own organisation's silences and windows and by the
    # platform's, in an organisation's group and in a platform group alike (SPEC §7.4).
    marks = {a.id: silenced_by(a.labels, *silencers[a.organisation_id], now) for a in alerts}
    joined = {
        a.id: at
        for a in alerts
        if (at := grouping.joined_at(a.started_at, a.ended_at, rule.min_duration_seconds, now)) is not None
    }
    # Silenced alerts, and those held back by min_duration_seconds, are told nothing; nor are
    # resolved ones the rule does not ask for (no `recovered` / `fresh`): they leave the group
    # unsaid, and a group left with none closes silently.
    quiet = {
        a.id
        for a in alerts
        if a.ended_at is not None and not grouping.tells_resolved(a.condition, rule.events)
    }
    told = tuple(a for a in alerts if not marks[a.id] and a.id in joined and a.id not in quiet)
    current = frozenset((a.id, a.ended_at is None) for a in told)
    notified = (
        frozenset((str(i), bool(f)) for i, f in group.notified if str(i) not in quiet)
        if group.notified is not None
        else None
    )
    last = group.last_notified_at
    acked = group.acknowledged_at is not None and (last is None or group.acknowledged_at >= last)
    first = min((joined[a.id] for a in told), default=None) or group.first_fired_at
    timing = grouping.Timing(
        rule.group_wait_seconds, rule.group_interval_seconds, rule.repeat_interval_seconds
    )
    decision = grouping.decide(
        timing, grouping.GroupState(first, current, notified, last, acknowledged=acked), now
    )
    send = decision.due(now) and bool(current)
    if send:
        # What the timing says once this notification is out.
        after = grouping.decide(timing, grouping.GroupState(first, current, current, now), now).notify_at
    else:
        # Due with nothing to tell (every alert silenced or held back): only a change can give
        # it something to say, and that change wakes it or is one of the boundaries below.
        after = decision.notify_at if decision.notify_at is not None and decision.notify_at > now else None
    # A group whose firing alerts are all silenced stays open, told nothing: when the silence
    # ends, they join it as if they had just fired. One left with no alerts at all (their
    # connection was deleted) has nothing left to say, and closes.
    still_firing = any(a.ended_at is None for a in alerts)
    close = (decision.close and (send or decision.notify_at is None) and not still_firing) or not alerts
    return Look(told, marks, current, send, close, _next_look(after, alerts, rule, silencers, now))


def silenced_by(
    labels: Mapping[str, str], found: Sequence[Any], windows: Sequence[Any], now: datetime
) -> list[str]:
    """Ids of the silences and maintenance windows holding an alert with ``labels`` back at ``now``."""
    return silences.silencing(found, labels, now) + maintenance.silencing(windows, labels, now)


def _next_look(
    after: datetime | None,
    alerts: Sequence[Any],
    rule: Any,
    silencers: Mapping[int, Silencers],
    now: datetime,
) -> datetime | None:
    ahead = [after] if after is not None else []
    for a in alerts:
        # Held back by min_duration_seconds: it joins then if it still fires (one that ended
        # has either joined already or never will).
        join = a.started_at + timedelta(seconds=rule.min_duration_seconds)
        if join > now and a.ended_at is None:
            ahead.append(join)
        found, windows = silencers[a.organisation_id]
        for boundary in (
            silences.next_boundary(found, a.labels, now),
            maintenance.next_boundary(windows, a.labels, now),
        ):
            if boundary is not None:
                ahead.append(boundary)
    return min(ahead, default=None)
