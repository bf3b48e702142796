"""The retention settings and ``pipepulse retention`` as an operator meets them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, insert, select

from pipepulse.config import Settings
from pipepulse.db.models import Organisation, Run, RunDailyRollup, WarehouseConnection
from pipepulse.db.session import Database


def pipepulse(settings: Settings, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEPULSE_")}
    env["PIPEPULSE_DATABASE_URL"] = settings.database_url
    env["PIPEPULSE_DATA_DIR"] = str(settings.data_dir)
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "pipepulse", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_settings__defaults__90_and_400_days() -> None:
    thresholds = Settings().thresholds
    assert (thresholds.run_retention, thresholds.rollup_retention) == (
        timedelta(days=90),
        timedelta(days=400),
    )


@pytest.mark.parametrize(
    ("run_days", "rollup_days", "message"),
    [
        (7, 400, "must be at least 8 days"),
        (90, 7, "must be at least 8 days"),
        (
            120,
            100,
            "PIPEPULSE_ROLLUP_RETENTION_DAYS (100) must not be shorter than PIPEPULSE_RUN_RETENTION_DAYS",
        ),
    ],
)
def test_settings__retention_too_short__refused(run_days: int, rollup_days: int, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(run_retention_days=run_days, rollup_retention_days=rollup_days)
    assert message in str(caught.value)


@pytest.mark.parametrize("command", [["retention", "--dry-run"], ["scheduler", "--once"], ["db", "upgrade"]])
def test_cli__retention_below_8_days__one_line_error_from_every_command(
    settings: Settings, command: list[str]
) -> None:
    result = pipepulse(settings, *command, PIPEPULSE_RUN_RETENTION_DAYS="7")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "PIPEPULSE_RUN_RETENTION_DAYS=7: must be at least 8 days" in result.stderr
    shorter = pipepulse(settings, *command, PIPEPULSE_ROLLUP_RETENTION_DAYS="30")
    assert shorter.returncode == 1
    assert "must not be shorter than PIPEPULSE_RUN_RETENTION_DAYS (90)" in shorter.stderr


async def seed_real_time_history(db: Database) -> None:
    """The CLI reads the real clock: one run 100 days old by it, one orphan, one recent run."""
    now = datetime.now(UTC)
    async with db.session(write=True) as session:
        org = Organisation(slug="acme", name="Acme", created_at=now)
        session.add(org)
        await session.flush()
        session.add(
            WarehouseConnection(
                id="wc_old", organisation_id=org.id, name="old", type="duckdb", state="paused",
                integration_type="warehouse_delivery", config={}, event_types=[],
                schedule_interval_seconds=300, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        await session.flush()
        old = now - timedelta(days=100)
        base = {"connection_id": "wc_old", "organisation_id": org.id, "events_delivered": 0, "batches_dlq": 0}
        rows = [
            {**base, "id": "old", "started_at": old, "completed_at": old, "outcome": "succeeded"},
            {**base, "id": "orphan", "started_at": old, "completed_at": None, "outcome": "pending"},
            {**base, "id": "new", "started_at": now, "completed_at": now, "outcome": "succeeded"},
        ]
        await session.execute(insert(Run), [{**row, "created_at": row["started_at"]} for row in rows])


def counts(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    body: dict[str, Any] = json.loads(result.stdout)
    return body


async def test_cli_retention__dry_run_then_apply__says_what_goes_then_deletes_it(
    settings: Settings, db: Database
) -> None:
    await seed_real_time_history(db)

    dry = counts(pipepulse(settings, "retention", "--dry-run", "--json"))
    assert (dry["dry_run"], dry["runs"], dry["orphans"], dry["connections"]) == (True, 1, 1, 1)
    assert (dry["run_retention_days"], dry["rollup_retention_days"]) == (90, 400)
    assert set(dry["cutoffs"]) == {
        "runs_completed_before",
        "orphans_started_before",
        "hourly_rollups_before",
        "alert_history_before",
    }
    text = pipepulse(settings, "retention", "--dry-run")
    assert text.stdout.startswith("would delete: 1 completed run(s) before ")
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Run)) == 3

    applied = counts(pipepulse(settings, "retention", "--json"))
    assert (applied["dry_run"], applied["runs"], applied["orphans"]) == (False, 1, 1)
    async with db.session() as session:
        assert (await session.scalars(select(Run.id))).all() == ["new"]
        assert (await session.execute(select(RunDailyRollup.orphaned))).scalars().all() == [1]
    assert counts(pipepulse(settings, "retention", "--dry-run", "--json"))["runs"] == 0
