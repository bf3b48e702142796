"""Credentials in URLs never reach an error text a tenant reads, nor a log line."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipepulse.config import Settings
from pipepulse.db.session import Database
from pipepulse.redaction import MASK, install_log_redaction, redact_text, redact_url
from pipepulse.scheduler import runner
from pipepulse.scheduler.dispatchers import HttpDispatcher
from tests.conftest import FrozenClock, Tenant, iso
from tests.throwaway_postgres import free_port


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://loader:hunter2@example.com/run", f"https://loader:{MASK}@example.com/run"),
        ("https://example.com/run?token=abc&region=eu", f"https://example.com/run?token={MASK}&region=eu"),
        (
            "https://example.com/x?X-Amz-Signature=ff&api_key=k",
            f"https://example.com/x?X-Amz-Signature={MASK}&api_key={MASK}",
        ),
        ("postgresql://app:s3cret@db:5432/pp", f"postgresql://app:{MASK}@db:5432/pp"),
        ("https://example.com/plain?page=2", "https://example.com/plain?page=2"),
        ("https://ghp_0123456789abcdefghij@github.com/x", f"https://{MASK}@github.com/x"),
        # An "@" in the password: the host is what follows the last "@", all before it is masked.
        ("https://loader:hun@ter2@example.com/run", f"https://loader:{MASK}@example.com/run"),
        # An "=" in a secret value: the name ends at the first "=", the whole value is masked.
        ("https://example.com/run?token=abc=def&x=1", f"https://example.com/run?token={MASK}&x=1"),
    ],
)
def test_redact_url__credentials__masked_the_rest_kept(url: str, shown: str) -> None:
    assert redact_url(url) == shown


secret_text = st.text(alphabet=st.characters(categories=["L", "N"]), min_size=6, max_size=30)


@given(password=secret_text, token=secret_text)
def test_redact_text__any_secret_in_any_url__never_shown(password: str, token: str) -> None:
    # A marker no other part of the text contains, so "not shown" means exactly that.
    password, token = f"Qz7{password}", f"Jx4{token}"
    text = (
        f"loader invocation failed: ConnectError at https://user:{password}@loader.example:8443/a?"
        f"access_token={token}&x=1 (retrying)"
    )
    shown = redact_text(text)
    assert password not in shown
    assert token not in shown
    assert "loader.example:8443/a" in shown
    assert shown.endswith("(retrying)")


async def test_http_dispatcher__unreachable_url_with_credentials__run_error_and_logs_without_them(
    client: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    settings: Settings,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    created = await client.post(
        tenant.connections_url(),
        json={"name": "Warehouse", "type": "duckdb", "state": "connected"},
        headers=tenant.write,
    )
    connection_id = created.json()["id"]
    url = f"http://loader:pa55word-xyz@127.0.0.1:{free_port()}/invoke?token=tok-123-secret&region=eu"
    install_log_redaction()
    dispatcher = HttpDispatcher(url, "signing-secret")
    with caplog.at_level(logging.DEBUG):
        result = await runner.tick(db, settings, dispatcher, clock.now)
    await dispatcher.close()
    assert result.dispatch_failures == 1

    runs = await client.get(tenant.connection_url(connection_id) + "metrics/", headers=tenant.read)
    [run] = runs.json()["items"]
    telemetry = await client.get(tenant.connection_url(connection_id) + "telemetry/", headers=tenant.read)
    shown = [run["error"], run["message"], telemetry.text, caplog.text]
    for text in shown:
        assert "pa55word-xyz" not in text
        assert "tok-123-secret" not in text
    assert run["error"].startswith("loader invocation failed: ConnectError")
    assert f"http://loader:{MASK}@127.0.0.1" in run["error"]
    assert f"token={MASK}&region=eu" in run["error"]


async def test_dashboard__run_error_with_a_url__shown_without_credentials(
    client: httpx.AsyncClient,
    tenant: Tenant,
    connection: dict[str, Any],
    runs_url: str,
    service_key: dict[str, str],
    clock: FrozenClock,
) -> None:
    report = {
        "started_at": iso(clock.now - timedelta(minutes=5)),
        "completed_at": iso(clock.now - timedelta(minutes=4)),
        "error": "could not write to postgresql://etl:warehouse-pw@wh.internal/analytics",
    }
    assert (await client.post(runs_url, json=report, headers=service_key)).status_code == 201
    # The identical repeat is still recognised as identical once stored redacted.
    report["run_id"] = "r-1"
    assert (await client.post(runs_url, json=report, headers=service_key)).status_code == 201
    assert (await client.post(runs_url, json=report, headers=service_key)).status_code == 200
    await client.post("/sign-in", data={"token": tenant.reader})
    page = await client.get(f"/orgs/{tenant.id}/connections/{connection['id']}/")
    assert page.status_code == 200
    assert "warehouse-pw" not in page.text
    assert "postgresql://etl:***@wh.internal/analytics" in page.text.replace("&#42;", "*")


def test_log_records__urls_in_message_args_and_traceback__redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    log = logging.getLogger("pipepulse.test.redaction")
    with caplog.at_level(logging.INFO):
        log.info("calling %s", "https://u:log-secret-1@host/x")
        try:
            raise RuntimeError("boom at https://host/y?password=log-secret-2")
        except RuntimeError:
            log.exception("failed")
        logging.getLogger("httpx").info(
            'HTTP Request: %s %s "%s"', "POST", "https://h/z?sig=log-secret-3", "200"
        )
    formatted = caplog.text + "".join(logging.Formatter().format(record) for record in caplog.records)
    for secret in ("log-secret-1", "log-secret-2", "log-secret-3"):
        assert secret not in formatted
