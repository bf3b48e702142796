"""SPEC §7.4: a rule added while what it asks about already holds hears of it — an on-call rule
added during an outage is told of the connections already in error at the next group pass,
with the alert started when the error began, and later of their recovery; a condition that does
not hold tells it nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.alerts.test_platform_alerting import platform_channel, platform_headers, platform_rule
from tests.alerts.world import AlertWorld

T0 = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
FAILING = "connection refused"


async def test_rule_added_while_in_error__told_at_next_pass_from_when_it_began_then_resolved(
    world: AlertWorld,
) -> None:
    world.clock.now = T0 - timedelta(hours=2)
    broken, fine = await world.connections(2)
    world.clock.now = T0 - timedelta(hours=1)
    await world.runs([fine], world.clock.now, None)
    for minutes in (30, 20, 10):  # three failures: error by the third
        world.clock.now = T0 - timedelta(minutes=minutes)
        await world.runs([broken], world.clock.now, lambda _: FAILING)
    first = await world.rule(
        (await world.channel(name="first"))["id"],
        ["status:error", "recovered"],
    )

    await world.tick(T0)
    # Added an hour into the outage, after the change was recorded and told to the first rule.
    world.clock.now = T0 + timedelta(hours=1)
    late_channel = await world.channel(name="added during the outage")
    added = await world.rule(late_channel["id"], ["status:error", "recovered"])
    quiet = await world.rule(late_channel["id"], ["status:degraded", "late"], group_by=["fingerprint"])
    platform = await platform_headers(world.db, world.clock.now)
    platform_added = await platform_rule(
        world.client,
        platform,
        (await platform_channel(world.client, platform, world.receiver.url))["id"],
        ["status:error"],
        group_by=["fingerprint"],
    )
    await world.tick(T0 + timedelta(hours=1, minutes=1))
    # The recovery: a good run at 13:05 (error → degraded, the failures still inside 24 h).
    world.clock.now = T0 + timedelta(hours=1, minutes=5)
    await world.runs([broken], world.clock.now, None)
    await world.tick(T0 + timedelta(hours=1, minutes=6))

    by_rule: dict[str, list[tuple[str, list[tuple[str, str, str, str | None]]]]] = {}
    for note in (d.json for d in world.receiver.received("alert_group")):
        told = [
            (a["connection"]["id"], a["labels"]["condition"], a["started_at"], a["ended_at"])
            for a in note["alerts"]
        ]
        by_rule.setdefault(note["group"]["rule_id"], []).append((note["status"], told))
    # When the error began, as the rule that saw the change recorded it.
    began, ended = by_rule[first["id"]][0][1][0][2], "2026-04-20T13:05:00Z"
    assert began < "2026-04-20T12:00:00Z"
    assert by_rule[first["id"]] == [
        ("firing", [(broken, "error", began, None)]),
        ("resolved", [(broken, "error", began, ended)]),
    ]
    # The same alert, started when the error began, told to the rule added an hour later.
    assert by_rule[added["id"]] == by_rule[first["id"]]
    assert by_rule[platform_added["id"]] == [("firing", [(broken, "error", began, None)])]
    # It asks for degraded and late: the connection, with no delivery since it was created,
    # was already late when the rule was added (told with its start, as the evaluation dated
    # it), and degraded begins only with the recovery, news at 13:05.
    assert by_rule[quiet["id"]][1:] == [("firing", [(broken, "degraded", ended, None)])]
    [(status, [(connection, condition, since, still)])] = by_rule[quiet["id"]][:1]
    assert (status, connection, condition, still) == ("firing", broken, "late", None)
    assert since < "2026-04-20T13:00:00Z"
    assert fine not in {a[0] for notes in by_rule.values() for _, told in notes for a in told}


async def test_rule_added_for_other_connections__not_told_of_the_one_in_error(
    world: AlertWorld,
) -> None:
    world.clock.now = T0 - timedelta(hours=2)
    broken, fine = await world.connections(2)
    world.clock.now = T0 - timedelta(hours=1)
    await world.runs([fine], world.clock.now, None)
    for minutes in (30, 20, 10):
        world.clock.now = T0 - timedelta(minutes=minutes)
        await world.runs([broken], world.clock.now, lambda _: FAILING)
    await world.tick(T0, replicas=1)
    channel = await world.channel()
    await world.rule(channel["id"], ["status:error"], connection_ids=[fine])
    named = await world.rule(channel["id"], ["status:error"], connection_ids=[broken])
    await world.tick(T0 + timedelta(minutes=1), replicas=1)
    notes = [d.json for d in world.receiver.received("alert_group")]
    assert [(n["group"]["rule_id"], [a["connection"]["id"] for a in n["alerts"]]) for n in notes] == [
        (named["id"], [broken])
    ]
