"""`pipepulse demo`'s alerting: the broken warehouse's failure reaches the demo's own receiver,
is printed, and the Alerts page shows it delivered."""

from __future__ import annotations

import httpx
import pytest

from pipepulse.auth import scopes
from pipepulse.auth.principals import UserPrincipal
from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.demo import build_history, demo_settings
from pipepulse.demo_alerts import SILENCE_COMMENT, Receiver, set_up
from pipepulse.scheduler.runner import alert_pass
from tests.conftest import FrozenClock


@pytest.mark.timeout(300)  # a week of backfill, then the alert passes, on a busy machine
async def test_demo_alerts__broken_warehouse__printed_by_the_receiver_and_shown_delivered(
    db: Database, client: httpx.AsyncClient, clock: FrozenClock, settings: Settings
) -> None:
    handles = await build_history(db, clock.now)
    printed: list[str] = []
    receiver = Receiver(report=printed.append, clock=lambda: clock.now.timestamp())
    await receiver.start()
    try:
        async with db.session(write=True) as session:
            owner = UserPrincipal("demo", handles.organisation_id, frozenset(scopes.ALL))
            await set_up(session, owner, handles.organisation_id, receiver, clock.now)
        demo = demo_settings(settings, settings.data_dir, public_url="http://127.0.0.1:8000")
        await alert_pass(db, demo, clock.now)
        await alert_pass(db, demo, clock.now)
    finally:
        await receiver.close()
    # The rule for every connection: one group per connection (the default group_by).
    errors = [line for line in printed if "Finance replica is in Error" in line]
    assert len(errors) == 1, printed
    assert "signature verified" in errors[0]
    # The rule grouping by condition: one notification for the error condition; degraded alerts
    # are silenced, in both rules' groups.
    grouped = [line for line in printed if "Grouped by condition=" in line]
    assert len(grouped) == 1, printed
    assert "1 connection in Error" in grouped[0]
    assert "Grouped by condition=error" in grouped[0]
    assert "signature verified" in grouped[0]
    assert all(line.startswith("  Alert group received:") for line in printed), printed
    assert not any("Degraded" in line for line in printed), printed

    signed_in = await client.post("/sign-in", data={"token": handles.token})
    assert signed_in.status_code == 303
    page = await client.get(f"/orgs/{handles.organisation_id}/alerts/")
    assert 'data-state="delivered" data-type="alert_group"' in page.text
    assert "Demo receiver" in page.text
    silences = await client.get(
        f"/api/v1/organisations/{handles.organisation_id}/silences/",
        headers={"Authorization": f"Bearer {handles.token}"},
    )
    [silence] = silences.json()
    assert (silence["matchers"], silence["state"]) == ({"condition": "degraded"}, "active")
    assert silence["comment"] == SILENCE_COMMENT
    groups = await client.get(
        f"/api/v1/organisations/{handles.organisation_id}/alert-groups/",
        params={"state": "open"},
        headers={"Authorization": f"Bearer {handles.token}"},
    )
    # The second rule's groups (the first rule's are one per connection).
    found = {g["key"]["condition"]: g for g in groups.json()["items"] if "condition" in g["key"]}
    assert set(found) == {"error", "degraded"}, found
    assert [a["silenced_by"] for a in found["degraded"]["alerts"]] == [[silence["id"]]]
