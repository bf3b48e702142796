"""Silences and maintenance windows on the Alerts page, over HTTP form posts (SPEC §7.4, §7.7)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from pipepulse.auth import scopes
from pipepulse.auth import service as auth_service
from pipepulse.db.session import Database
from tests.alerts.test_dashboard_alerts import sign_in
from tests.conftest import FrozenClock, Tenant

ORIGIN = {"Origin": "http://pipepulse.test"}


def silences_url(tenant: Tenant) -> str:
    return f"/api/v1/organisations/{tenant.id}/silences/"


def windows_url(tenant: Tenant) -> str:
    return f"/api/v1/organisations/{tenant.id}/maintenance-windows/"


async def test_silence_form__added_with_a_duration__listed_then_expired(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    await sign_in(client, tenant.writer)
    added = await client.post(
        f"/orgs/{tenant.id}/alerts/silences",
        data={
            "matchers": "condition=error\nconnection=~wc_.*\n",
            "duration": "2h",
            "comment": "Warehouse upgrade",
        },
        headers=ORIGIN,
    )
    assert added.status_code == 303, added.text
    [silence] = (await client.get(silences_url(tenant), headers=tenant.read)).json()
    assert silence["matchers"] == {"condition": "error", "connection": "=~wc_.*"}
    assert silence["state"] == "active"
    assert silence["comment"] == "Warehouse upgrade"
    assert silence["ends_at"] == (clock.now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = await client.get(added.headers["location"])
    assert "The silence was added." in page.text
    assert f'data-silence-id="{silence["id"]}" data-state="active"' in page.text
    assert "connection=~wc_.*" in page.text

    expired = await client.post(f"/orgs/{tenant.id}/alerts/silences/{silence['id']}/expire", headers=ORIGIN)
    assert expired.status_code == 303
    [after] = (await client.get(silences_url(tenant), headers=tenant.read)).json()
    assert after["state"] == "expired"
    page = await client.get(expired.headers["location"])
    assert "The silence was expired." in page.text
    assert silence["id"] not in page.text


async def test_silence_form__pending_with_start_and_end__listed_as_pending(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    await sign_in(client, tenant.writer)
    start = clock.now + timedelta(days=1)
    added = await client.post(
        f"/orgs/{tenant.id}/alerts/silences",
        data={
            "matchers": "severity!=critical",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
        },
        headers=ORIGIN,
    )
    assert added.status_code == 303, added.text
    [silence] = (await client.get(silences_url(tenant), headers=tenant.read)).json()
    assert (silence["state"], silence["matchers"]) == ("pending", {"severity": "!=critical"})
    page = await client.get(added.headers["location"])
    assert 'data-state="pending"' in page.text
    assert "severity!=critical" in page.text


async def test_silence_form__bad_fields__422_with_the_reason_form_kept_nothing_added(
    client: httpx.AsyncClient, tenant: Tenant, clock: FrozenClock
) -> None:
    await sign_in(client, tenant.writer)
    past = (clock.now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    cases = {
        "a bad regex": ({"matchers": "connection=~(", "duration": "1h"}, "connection"),
        "no matcher": ({"matchers": "  \n", "duration": "1h"}, "give at least one"),
        "not a matcher": ({"matchers": "just words", "duration": "1h"}, "write label=value"),
        "no end": ({"matchers": "condition=error"}, "give an end or a duration"),
        "both ends": ({"matchers": "condition=error", "duration": "1h", "ends_at": past}, "not both"),
        "a bad duration": ({"matchers": "condition=error", "duration": "soon"}, "90m, 2h"),
        "an end in the past": ({"matchers": "condition=error", "ends_at": past}, "ends_at must lie after"),
        "a bad instant": (
            {"matchers": "condition=error", "starts_at": "tomorrow", "duration": "1h"},
            "starts_at",
        ),
        "a long comment": (
            {"matchers": "condition=error", "duration": "1h", "comment": "x" * 2001},
            "comment",
        ),
    }
    for case, (data, reason) in cases.items():
        response = await client.post(f"/orgs/{tenant.id}/alerts/silences", data=data, headers=ORIGIN)
        assert response.status_code == 422, case
        assert reason in response.text, case
        assert 'id="alerts-error"' in response.text, case
    kept = await client.post(
        f"/orgs/{tenant.id}/alerts/silences",
        data={"matchers": "connection=~(", "duration": "1h", "comment": "keep me"},
        headers=ORIGIN,
    )
    assert ">connection=~(</textarea>" in kept.text
    assert 'value="keep me"' in kept.text
    assert (await client.get(silences_url(tenant), headers=tenant.read)).json() == []


async def test_window_form__added__listed_with_next_occurrence_then_deleted(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await sign_in(client, tenant.writer)
    added = await client.post(
        f"/orgs/{tenant.id}/alerts/maintenance-windows",
        content="matchers=type%3Dpostgres&time_zone=Europe%2FBerlin&weekdays=5&weekdays=6"
        "&start=02%3A30&duration_minutes=90&comment=Weekly+vacuum",
        headers=ORIGIN | {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert added.status_code == 303, added.text
    [window] = (await client.get(windows_url(tenant), headers=tenant.read)).json()
    assert (window["matchers"], window["time_zone"], window["weekdays"], window["start"]) == (
        {"type": "postgres"},
        "Europe/Berlin",
        [5, 6],
        "02:30",
    )
    assert (window["duration_minutes"], window["comment"]) == (90, "Weekly vacuum")
    page = await client.get(added.headers["location"])
    assert "The maintenance window was added." in page.text
    assert f'data-window-id="{window["id"]}"' in page.text
    assert "Sat, Sun 02:30 (Europe/Berlin) for 90 min" in page.text
    assert window["next_start"].replace("Z", "") in page.text.replace("Z", "")

    deleted = await client.post(
        f"/orgs/{tenant.id}/alerts/maintenance-windows/{window['id']}/delete", headers=ORIGIN
    )
    assert deleted.status_code == 303
    assert (await client.get(windows_url(tenant), headers=tenant.read)).json() == []
    assert "The maintenance window was deleted." in (await client.get(deleted.headers["location"])).text


async def test_window_form__bad_fields__422_with_the_reason_nothing_added(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await sign_in(client, tenant.writer)
    good = {
        "matchers": "type=postgres",
        "time_zone": "UTC",
        "weekdays": "1",
        "start": "02:30",
        "duration_minutes": "60",
    }
    cases = {
        "a zone that is not one": ({"time_zone": "Mars/Olympus"}, "not an IANA time zone"),
        "no weekday": ({"weekdays": ""}, "weekdays"),
        "a bad start": ({"start": "25:00"}, "must be a local time HH:MM"),
        "too long": ({"duration_minutes": "20000"}, "duration_minutes must be between 1 and"),
        "not a number": ({"duration_minutes": "an hour"}, "whole number of minutes"),
        "a bad regex": ({"matchers": "condition=~["}, "condition"),
    }
    for case, (change, reason) in cases.items():
        data = good | change
        if data["weekdays"] == "":
            del data["weekdays"]
        response = await client.post(
            f"/orgs/{tenant.id}/alerts/maintenance-windows", data=data, headers=ORIGIN
        )
        assert response.status_code == 422, case
        assert reason in response.text, case
    assert (await client.get(windows_url(tenant), headers=tenant.read)).json() == []


async def test_silence_forms__reader_sees_lists_but_no_forms_and_posts_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    made = await client.post(
        silences_url(tenant),
        json={
            "matchers": {"condition": "error"},
            "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": "2099-01-01T00:00:00Z",
        },
        headers=tenant.write,
    )
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    await sign_in(client, tenant.reader)
    page = await client.get(f"/orgs/{tenant.id}/alerts/")
    assert f'data-silence-id="{sid}"' in page.text
    assert "Add a silence" not in page.text
    assert f"silences/{sid}/expire" not in page.text
    for path in ("silences", f"silences/{sid}/expire", "maintenance-windows"):
        response = await client.post(
            f"/orgs/{tenant.id}/alerts/{path}", data={"matchers": "a=b", "duration": "1h"}, headers=ORIGIN
        )
        assert response.status_code == 403, path
    [still] = (await client.get(silences_url(tenant), headers=tenant.read)).json()
    assert still["state"] == "active"


async def test_silence_forms__post_from_another_site__refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await sign_in(client, tenant.writer)
    response = await client.post(
        f"/orgs/{tenant.id}/alerts/silences",
        data={"matchers": "condition=error", "duration": "1h"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert (await client.get(silences_url(tenant), headers=tenant.read)).json() == []


async def test_silence_forms__other_organisation__never_listed_expired_or_deleted(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = (
        await client.post(
            silences_url(other_tenant),
            json={
                "matchers": {"condition": "error"},
                "starts_at": "2026-01-01T00:00:00Z",
                "ends_at": "2099-01-01T00:00:00Z",
                "comment": "their secret plan",
            },
            headers=other_tenant.write,
        )
    ).json()
    window = (
        await client.post(
            windows_url(other_tenant),
            json={
                "matchers": {"type": "postgres"},
                "time_zone": "UTC",
                "weekdays": [0],
                "start": "01:00",
                "duration_minutes": 30,
                "comment": "their window",
            },
            headers=other_tenant.write,
        )
    ).json()
    await sign_in(client, tenant.writer)
    page = await client.get(f"/orgs/{tenant.id}/alerts/")
    assert theirs["id"] not in page.text
    assert "their secret plan" not in page.text
    assert "their window" not in page.text
    paths = (
        f"/orgs/{tenant.id}/alerts/silences/{theirs['id']}/expire",
        f"/orgs/{tenant.id}/alerts/maintenance-windows/{window['id']}/delete",
        f"/orgs/{other_tenant.id}/alerts/silences/{theirs['id']}/expire",
        f"/orgs/{other_tenant.id}/alerts/maintenance-windows/{window['id']}/delete",
        f"/orgs/{other_tenant.id}/alerts/silences",
        f"/orgs/{other_tenant.id}/alerts/maintenance-windows",
    )
    for path in paths:
        response = await client.post(path, data={"matchers": "a=b", "duration": "1h"}, headers=ORIGIN)
        assert response.status_code == 404, path
        assert "their secret plan" not in response.text
    [still] = (await client.get(silences_url(other_tenant), headers=other_tenant.read)).json()
    assert still["state"] == "active"
    assert len((await client.get(windows_url(other_tenant), headers=other_tenant.read)).json()) == 1


async def test_silence_form__platform_writer__adds_to_the_organisation_named_by_the_page(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database, clock: FrozenClock
) -> None:
    async with db.session(write=True) as session:
        platform = await auth_service.create_token(
            session,
            organisation_id=None,
            scopes=[scopes.READ_PIPELINE_METRICS, scopes.WRITE_ALERTS],
            name="platform on-call",
            now=clock.now,
        )
    await sign_in(client, platform.token)
    added = await client.post(
        f"/orgs/{tenant.id}/alerts/silences",
        data={"matchers": "condition=error", "duration": "1h"},
        headers=ORIGIN,
    )
    assert added.status_code == 303, added.text
    [silence] = (await client.get(silences_url(tenant), headers=tenant.read)).json()
    assert (silence["organisation_id"], silence["created_by"]) == (tenant.id, "platform on-call")
    assert "platform on-call" in (await client.get(added.headers["location"])).text
    assert (await client.get(silences_url(other_tenant), headers=other_tenant.read)).json() == []
    missing = await client.post(
        "/orgs/999999/alerts/silences", data={"matchers": "condition=error", "duration": "1h"}, headers=ORIGIN
    )
    assert missing.status_code == 404
