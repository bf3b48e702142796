"""Alert groups (SPEC §7.4) as pure rules: the group key, the group id and Alertmanager's
timing decision.

A rule's firing alerts with equal values of its ``group_by`` labels form one group. When a
group is next notified is a function of the rule's timing, what the group last told its
channel and ``now`` only:

- a group never notified is notified once ``group_wait`` has passed since its first alert
  fired (a group whose alerts all resolved before that closes without a word);
- a group whose set of firing or resolved alerts differs from the last notification is
  notified again, at most every ``group_interval`` after the last notification;
- a group still firing unchanged is notified again after ``repeat_interval`` (0: never), unless
  it was acknowledged since its last change;
- a group whose alerts have all resolved, once that is notified, closes.

An alert joins its group only once its condition has lasted the rule's
``min_duration_seconds`` (:func:`joined_at`); its group's wait counts from then. A resolved
alert is told only when the rule asks for it (:func:`tells_resolved`); one it does not ask for
leaves its group without a word, as Alertmanager's ``send_resolved: false`` does.

0 for a wait or interval means the next delivery pass (``now``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_GROUP_BY = ("connection",)
DEFAULT_GROUP_WAIT = 10
DEFAULT_GROUP_INTERVAL = 300
DEFAULT_REPEAT_INTERVAL = 14_400
# SPEC §7.3/§7.4: the rule event that asks for the resolved notifications of a condition's
# alerts. Volume anomalies and objectives' burns have none: their ends are always told.
RESOLVED_BY = {"error": "recovered", "degraded": "recovered", "late": "fresh"}


@dataclass(frozen=True)
class Timing:
    group_wait_seconds: int = DEFAULT_GROUP_WAIT
    group_interval_seconds: int = DEFAULT_GROUP_INTERVAL
    repeat_interval_seconds: int = DEFAULT_REPEAT_INTERVAL


@dataclass(frozen=True)
class GroupState:
    """What the timing decision reads of a group.

    ``current`` and ``notified`` are the group's sets of (alert id, firing?) — now, and as the
    last notification told them (None: never notified).
    """

    first_fired_at: datetime
    current: frozenset[tuple[str, bool]]
    notified: frozenset[tuple[str, bool]] | None
    last_notified_at: datetime | None
    acknowledged: bool = False

    @property
    def firing(self) -> bool:
        return any(f for _, f in self.current)


@dataclass(frozen=True)
class Decision:
    """``notify_at``: when the next notification is due (None: none is); ``close``: the group
    has nothing left to say and closes (now, or after the notification that is due)."""

    notify_at: datetime | None
    close: bool = False

    def due(self, now: datetime) -> bool:
        return self.notify_at is not None and self.notify_at <= now


def key(labels: Mapping[str, str], group_by: Sequence[str]) -> dict[str, str]:
    """The group key: the alert's values of the ``group_by`` labels (absent labels read "")."""
    return {label: labels.get(label, "") for label in sorted(set(group_by))}


def group_id(rule_id: str, group_key: Mapping[str, str]) -> str:
    """A stable id for (rule, key): replicas that form the same group name it alike."""
    text = json.dumps([rule_id, sorted(group_key.items())], separators=(",", ":"))
    return "agr_" + hashlib.sha256(text.encode()).hexdigest()[:24]


def joined_at(
    started_at: datetime, ended_at: datetime | None, min_duration_seconds: int, now: datetime
) -> datetime | None:
    """When an alert joins its group: once its condition has lasted the rule's
    ``min_duration_seconds`` (SPEC §7.4). None while it is held back, and for good when its
    condition ended sooner (nothing is said of it)."""
    join = started_at + timedelta(seconds=min_duration_seconds)
    if ended_at is not None and ended_at < join:
        return None
    return join if join <= now else None


def tells_resolved(condition: str, events: Collection[str]) -> bool:
    """Whether a rule asking for ``events`` tells its channel that an alert of ``condition``
    resolved: ``recovered`` asks it of status alerts, whatever the new status; ``fresh`` of
    lateness."""
    asked = RESOLVED_BY.get(condition)
    return asked is None or asked in events


def decide(timing: Timing, state: GroupState, now: datetime) -> Decision:
    """When the group is next notified (see the module's docstring)."""
    if state.notified is None:
        if not state.firing:
            return Decision(None, close=True)
        return Decision(max(state.first_fired_at + timedelta(seconds=timing.group_wait_seconds), now))
    assert state.last_notified_at is not None
    notified_firing = any(f for _, f in state.notified)
    if state.current != state.notified:
        at = max(state.last_notified_at + timedelta(seconds=timing.group_interval_seconds), now)
        return Decision(at, close=not state.firing)
    if not state.firing:
        # Everything resolved, and that was said.
        return Decision(None, close=True)
    if timing.repeat_interval_seconds == 0 or state.acknowledged or not notified_firing:
        return Decision(None)
    return Decision(max(state.last_notified_at + timedelta(seconds=timing.repeat_interval_seconds), now))
