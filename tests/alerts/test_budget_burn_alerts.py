"""SPEC §7.6 burn conditions through the alert pipeline (§7.4): a grouping rule for
budget_burn_fast gets an alert dated at the instant the multi-window rule fires, a firing
notification at a real receiver, and the alert ends at the instant the rule resolves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from pipepulse.db.models import Alert
from pipepulse.db.session import Database
from tests.alerts.world import AlertWorld
from tests.conftest import iso

T0 = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


async def burn_alerts(db: Database) -> list[Alert]:
    async with db.session() as session:
        return list(
            (await session.execute(select(Alert).where(Alert.condition.like("budget_burn%")))).scalars()
        )


async def test_budget_burn_fast__30_minute_outage__fires_and_resolves_at_the_rule_s_instants(
    world: AlertWorld,
) -> None:
    world.clock.now = T0 - timedelta(days=2)
    made = await world.client.post(
        world.tenant.connections_url(),
        json={"name": "Orders", "type": "postgres", "state": "connected"},
        headers=world.tenant.write,
    )
    cid = made.json()["id"]
    objective = await world.client.post(
        world.tenant.connection_url(cid) + "objectives/",
        json={"indicator": "availability", "target_percent": 99, "window_days": 7},
        headers=world.tenant.write,
    )
    assert objective.status_code == 201, objective.text
    channel = await world.channel()
    await world.rule(channel["id"], ["budget_burn_fast"], group_by=[], group_wait_seconds=0)

    async def run(at: datetime, error: str | None) -> None:
        body = {
            "started_at": iso(at - timedelta(seconds=1)),
            "completed_at": iso(at),
            "events_delivered": 0 if error else 10,
            "error": error,
        }
        pushed = await world.client.post(
            world.tenant.connection_url(cid) + "metrics/", json=body, headers=world.service_key
        )
        assert pushed.status_code == 201, pushed.text

    world.clock.now = T0 - timedelta(hours=1)
    await run(T0 - timedelta(hours=1), None)
    for k in range(3):  # in error from the third failure, T0 + 2 s (SPEC §3)
        world.clock.now = T0 + timedelta(seconds=k)
        await run(T0 + timedelta(seconds=k), "refused")
    for minutes in (1, 5, 10, 12):
        await world.tick(T0 + timedelta(minutes=minutes), replicas=1)

    [alert] = await burn_alerts(world.db)
    # 14.4 % of an hour bad: 8 min 38.4 s into the outage.
    assert alert.started_at == T0 + timedelta(seconds=2) + timedelta(minutes=8, seconds=38.4)
    assert alert.ended_at is None
    assert alert.labels["objective"] == objective.json()["id"]
    firing = world.receiver.received("alert_group")
    assert [d.json["status"] for d in firing] == ["firing"]
    assert firing[0].json["alerts"][0]["labels"]["condition"] == "budget_burn_fast"

    world.clock.now = T0 + timedelta(minutes=30)
    await run(T0 + timedelta(minutes=30), None)  # recovered at 12:30
    for minutes in (31, 40, 50):
        await world.tick(T0 + timedelta(minutes=minutes), replicas=1)

    [alert] = await burn_alerts(world.db)
    # Under 43.2 s of the last five minutes bad: just after 12:34:16.8.
    assert alert.ended_at == T0 + timedelta(minutes=34, seconds=16.8) + US
    assert [d.json["status"] for d in world.receiver.received("alert_group")] == ["firing", "resolved"]


async def test_budget_burn__silence_on_one_objective__only_the_other_notified(
    world: AlertWorld,
) -> None:
    world.clock.now = T0 - timedelta(days=2)
    made = await world.client.post(
        world.tenant.connections_url(),
        json={"name": "Orders", "type": "postgres", "state": "connected"},
        headers=world.tenant.write,
    )
    cid = made.json()["id"]
    ids = {}
    for target in (99, 99.9):
        created = await world.client.post(
            world.tenant.connection_url(cid) + "objectives/",
            json={"indicator": "availability", "target_percent": target},
            headers=world.tenant.write,
        )
        ids[target] = created.json()["id"]
    channel = await world.channel()
    await world.rule(
        channel["id"],
        ["budget_burn_fast", "budget_burn_slow"],
        group_by=["condition"],
        group_wait_seconds=0,
    )
    silence = await world.client.post(
        f"/api/v1/organisations/{world.tenant.id}/silences/",
        json={
            "matchers": {"objective": ids[99.9]},
            "starts_at": iso(T0 - timedelta(hours=1)),
            "ends_at": iso(T0 + timedelta(hours=5)),
            "comment": "the strict objective is aspirational",
        },
        headers=world.tenant.write,
    )
    assert silence.status_code == 201, silence.text
    for k in range(3):
        world.clock.now = T0 + timedelta(seconds=k)
        body = {
            "started_at": iso(world.clock.now - timedelta(seconds=1)),
            "completed_at": iso(world.clock.now),
            "error": "refused",
        }
        pushed = await world.client.post(
            world.tenant.connection_url(cid) + "metrics/", json=body, headers=world.service_key
        )
        assert pushed.status_code == 201, pushed.text
    for minutes in (1, 12, 13):
        await world.tick(T0 + timedelta(minutes=minutes), replicas=1)

    alerts = await burn_alerts(world.db)
    assert sorted((a.labels["objective"], a.condition) for a in alerts) == sorted(
        [(ids[99], "budget_burn_fast"), (ids[99.9], "budget_burn_fast"), (ids[99.9], "budget_burn_slow")]
    )
    # The slow burn (only the silenced objective's) notifies nobody; the fast burn's group
    # carries the unsilenced objective's alert.
    notified = world.receiver.received("alert_group")
    assert [d.json["group"]["key"] for d in notified] == [{"condition": "budget_burn_fast"}]
    loud = [a for a in notified[0].json["alerts"] if not a["silenced_by"]]
    assert [a["labels"]["objective"] for a in loud] == [ids[99]]
    groups = (
        await world.client.get(
            f"/api/v1/organisations/{world.tenant.id}/alert-groups/", headers=world.tenant.read
        )
    ).json()["items"]
    slow = next(g for g in groups if g["key"] == {"condition": "budget_burn_slow"})
    assert [a["silenced_by"] for a in slow["alerts"]] == [[silence.json()["id"]]]
