"""SPEC §7.5: channel secrets encrypted at rest, the migration that encrypts old rows, rotation,
and the refusal without a key."""

from __future__ import annotations

import subprocess
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import column, insert, text
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection

from pipepulse import secret_key, secretbox
from pipepulse.app import create_app
from pipepulse.config import Settings
from pipepulse.db import migrate
from pipepulse.db.base import UTCDateTime
from pipepulse.db.session import Database
from pipepulse.delivery.channels import keys as channel_keys
from tests.alerts.receiver import Receiver
from tests.alerts.world import add_channel, channels_url
from tests.conftest import BACKEND, FrozenClock, Tenant
from tests.helpers import pipepulse

OLD_KEY = "an-older-secret-key-that-is-long-enough-0001"
NEW_KEY = "a-newer-secret-key-that-is-long-enough-00002"


def _dump(settings: Settings) -> str:
    """The whole database as its own dump tool writes it."""
    url = settings.database_url
    if BACKEND == "postgres":
        plain = url.replace("postgresql+asyncpg://", "postgresql://").replace(
            "postgresql+psycopg://", "postgresql://"
        )
        result = subprocess.run(["pg_dump", "--data-only", plain], capture_output=True, text=True, timeout=60)
    else:
        result = subprocess.run(
            ["sqlite3", url.removeprefix("sqlite:///"), ".dump"], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def _raw_channel(db: Database, channel_id: str) -> tuple[str, str | None]:
    async with db.session() as session:
        row = (
            await session.execute(
                text("SELECT url, signing_secret FROM alert_channels WHERE id = :id"), {"id": channel_id}
            )
        ).one()
    return row[0], row[1]


async def test_channel_secrets__created__no_secret_value_in_a_dump_of_the_database(
    client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver, alert_settings: Settings, db: Database
) -> None:
    created = await add_channel(client, tenant, receiver)
    secret = created["signing_secret"]

    dump = _dump(alert_settings)
    assert created["id"] in dump  # the dump does hold the channel
    for value in (secret, secret.removeprefix("whsec_"), "s3cr3t-query", "/hooks/pipepulse", receiver.url):
        assert value not in dump
    url, stored_secret = await _raw_channel(db, created["id"])
    assert url.startswith("enc1:")
    assert stored_secret is not None
    assert stored_secret.startswith("enc1:")

    # Still usable: the test send reaches the receiver, signed with the secret shown at creation.
    sent = await client.post(channels_url(tenant) + created["id"] + "/test/", headers=tenant.write)
    assert sent.json()["delivered"] is True
    assert receiver.received()[0].path == "/hooks/pipepulse?token=s3cr3t-query"


async def test_channel_secrets__migration__encrypts_rows_written_in_clear_and_downgrade_decrypts(
    db: Database, tenant: Tenant, alert_settings: Settings, clock: FrozenClock
) -> None:
    def alembic(action: str, revision: str) -> Any:
        def run(connection: Connection) -> None:
            cfg = migrate.alembic_config()
            cfg.attributes["connection"] = connection
            getattr(command, action)(cfg, revision)

        return run

    async with db.engine.begin() as conn:
        await conn.run_sync(alembic("downgrade", "0010_notification_tallies"))
    try:
        async with db.session(write=True) as session:
            # Written as 0010 wrote it: in clear (a bare table, not the model's encrypting columns).
            raw = sql_table(
                "alert_channels",
                *(
                    column(n)
                    for n in ("id", "organisation_id", "name", "kind", "url", "signing_secret", "enabled")
                ),
                column("created_at", UTCDateTime()),
            )
            await session.execute(
                insert(raw).values(
                    id="ch_old",
                    organisation_id=tenant.id,
                    name="old",
                    kind="webhook",
                    url="https://hooks.example.com/T0/B0/xyz",
                    signing_secret="whsec_plainoldsecret",
                    enabled=True,
                    created_at=clock.now,
                )
            )
    finally:
        async with db.engine.begin() as conn:
            await conn.run_sync(alembic("upgrade", "head"))
    url, secret = await _raw_channel(db, "ch_old")
    assert url.startswith("enc1:")
    assert secret is not None
    assert secret.startswith("enc1:")
    assert "hooks.example.com" not in _dump(alert_settings)
    box = secretbox.current()
    assert box is not None
    assert box.open(url) == "https://hooks.example.com/T0/B0/xyz"
    assert box.open(secret) == "whsec_plainoldsecret"

    async with db.engine.begin() as conn:
        await conn.run_sync(alembic("downgrade", "0010_notification_tallies"))
    try:
        assert await _raw_channel(db, "ch_old") == (
            "https://hooks.example.com/T0/B0/xyz",
            "whsec_plainoldsecret",
        )
    finally:
        async with db.engine.begin() as conn:
            await conn.run_sync(alembic("upgrade", "head"))


async def test_secrets_rotate__new_key_first__every_secret_reencrypted_old_key_can_go(
    db: Database, tenant: Tenant, receiver: Receiver, alert_settings: Settings, clock: FrozenClock
) -> None:
    old = alert_settings.model_copy(update={"secret_key": OLD_KEY})
    app = create_app(old, clock=clock, database=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        created = await add_channel(client, tenant, receiver)
    before, _ = await _raw_channel(db, created["id"])

    result = pipepulse(old, "secrets", "rotate", secret_key=f"{NEW_KEY},{OLD_KEY}")
    assert result.returncode == 0, result.stderr
    assert "re-encrypted the secrets of 1 channel(s)" in result.stdout

    url, secret = await _raw_channel(db, created["id"])
    assert url != before
    only_new = secretbox.SecretBox([NEW_KEY])
    assert only_new.open(url) == receiver.url
    assert secret is not None
    assert only_new.open(secret) == created["signing_secret"]

    # With the old key dropped, pipepulse still sends through the channel.
    new = alert_settings.model_copy(update={"secret_key": NEW_KEY})
    app = create_app(new, clock=clock, database=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        sent = await client.post(channels_url(tenant) + created["id"] + "/test/", headers=tenant.write)
    assert sent.json()["delivered"] is True, sent.text
    create_app(alert_settings, clock=clock, database=db)  # the suite's key again


async def test_secrets__wrong_key__test_send_says_to_set_the_key_and_sends_nothing(
    db: Database, tenant: Tenant, receiver: Receiver, alert_settings: Settings, clock: FrozenClock
) -> None:
    app = create_app(alert_settings.model_copy(update={"secret_key": OLD_KEY}), clock=clock, database=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        created = await add_channel(client, tenant, receiver)
    app = create_app(alert_settings.model_copy(update={"secret_key": NEW_KEY}), clock=clock, database=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        sent = (
            await client.post(channels_url(tenant) + created["id"] + "/test/", headers=tenant.write)
        ).json()
    assert sent["delivered"] is False
    assert "PIPEPULSE_SECRET_KEY" in sent["error"]
    assert receiver.received() == []
    create_app(alert_settings, clock=clock, database=db)


@pytest.mark.only_on("postgres")
async def test_secrets__postgres_without_key__channel_creation_refused_naming_the_setting(
    db: Database, tenant: Tenant, receiver: Receiver, alert_settings: Settings, clock: FrozenClock
) -> None:
    app = create_app(alert_settings.model_copy(update={"secret_key": ""}), clock=clock, database=db)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.post(
                channels_url(tenant),
                json={"name": "x", "kind": "webhook", "url": receiver.url},
                headers=tenant.write,
            )
        assert response.status_code == 503
        assert "PIPEPULSE_SECRET_KEY" in response.json()["detail"]
        async with db.session() as session:
            assert (await session.execute(text("SELECT count(*) FROM alert_channels"))).scalar() == 0
    finally:
        create_app(alert_settings, clock=clock, database=db)


@pytest.mark.only_on("sqlite")
def test_secrets__sqlite_without_key__data_directory_key_used_with_a_warning(
    alert_settings: Settings, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = alert_settings.model_copy(update={"secret_key": "", "data_dir": tmp_path})
    box = channel_keys.box_for(settings)
    assert box is not None
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert "lies beside the data" in caplog.text
    assert box.open(channel_keys.box_for(settings).seal("x")) == "x"  # type: ignore[union-attr]


@pytest.mark.only_on("sqlite")
def test_secrets__box_installed_twice_in_one_process__one_warning_and_the_dashboard_signs_with_the_same_key(
    alert_settings: Settings, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # `pipepulse demo` installs the box, then the app it starts installs it again.
    settings = alert_settings.model_copy(update={"secret_key": "", "data_dir": tmp_path})
    try:
        channel_keys.install(settings)
        channel_keys.install(settings)
    finally:
        channel_keys.install(alert_settings)  # the box the other tests use
    assert caplog.text.count("lies beside the data") == 1
    stored = (tmp_path / "secret_key").read_text().strip()
    assert secret_key.secret_key(settings) == stored


def test_secrets__short_key__refused_with_what_to_fix() -> None:
    with pytest.raises(secretbox.NoSecretKey, match="at least 32 characters"):
        secretbox.parse("short," + OLD_KEY)
