"""Settings, read from the environment with the ``PIPEPULSE_`` prefix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipepulse.rules import Thresholds


def default_data_dir() -> Path:
    """Where the embedded database and demo files live when nothing is configured."""
    import os

    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "pipepulse"


# Telemetry needs the 7 days of raw runs before now plus the partial hours at their edges.
MIN_RETENTION_DAYS = 8


def describe_invalid(exc: ValidationError) -> str:
    """A settings error as one line naming the environment variables to fix."""
    parts = []
    for error in exc.errors():
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        names = [f"PIPEPULSE_{str(part).upper()}" for part in error.get("loc", ())]
        value = error.get("input")
        if names and not isinstance(value, dict):
            parts.append(f"{names[0]}={value}: {message}")
        else:
            parts.append(message)
    return "invalid settings: " + "; ".join(parts)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIPEPULSE_", extra="ignore")

    database_url: str = Field(
        default="",
        description="postgresql://user@host/db or sqlite:///path.db; empty = embedded SQLite.",
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    auto_migrate: bool = Field(
        default=True,
        description="Apply pending migrations when the server or a CLI command starts.",
    )

    # Telemetry thresholds (SPEC §3).
    orphan_window_seconds: int = Field(default=900, ge=60)
    error_status_runs: int = Field(default=3, ge=1)
    recent_errors_limit: int = Field(default=10, ge=1, le=100)

    # Data lifecycle (SPEC §8): raw runs, then hourly rollups, are deleted past these ages.
    run_retention_days: int = Field(default=90)
    rollup_retention_days: int = Field(default=400)

    # Scheduler.
    # Housekeeping cadence (orphan sweep, retention); seeding follows the slots and alerts
    # have their own cadence.
    scheduler_tick_seconds: float = Field(default=30.0, gt=0)
    scheduler_alert_seconds: float = Field(default=2.0, gt=0)
    # PostgreSQL replicas divide the evaluation by partitions, each held by a lease renewed
    # every alert pass: a stopped replica's partitions are taken over once it runs out.
    scheduler_evaluation_lease_seconds: float = Field(default=30.0, gt=0)
    # A seeding lag past this is logged as a warning (SPEC §6 asks p99 <= 5 s).
    scheduler_lag_warning_seconds: float = Field(default=5.0, gt=0)
    # Where `pipepulse scheduler` serves its own /metrics (lag, loop times, backlog); 0 = off.
    scheduler_metrics_port: int = Field(default=0, ge=0, le=65535)
    scheduler_metrics_host: str = "127.0.0.1"
    scheduler_heartbeat_stale_seconds: int = Field(default=300, ge=1)
    dispatcher: Literal["local", "http", "lambda", "none"] = "local"
    loader_url: str = ""
    loader_signing_secret: str = ""
    lambda_function_name: str = ""
    loader_source_root: Path | None = None
    loader_destination: str = ""

    # Alerts (SPEC §7.3). Webhook and Slack URLs must reach the public internet unless this
    # is set: a receiver on a private network is a way into it (server-side request forgery).
    alerts_allow_private_urls: bool = False
    # SPEC §7.4: what one organisation may create (over the bound: 422 naming the setting).
    alerts_max_rules_per_org: int = Field(default=100, ge=1)
    alerts_max_channels_per_org: int = Field(default=20, ge=1)
    alerts_max_silences_per_org: int = Field(default=1000, ge=1)
    # Test sends per channel in any minute (over it: 429 with Retry-After).
    alerts_test_sends_per_minute: int = Field(default=5, ge=1)
    # Where people reach the dashboard; the links in notifications start with it.
    public_url: str = "http://127.0.0.1:8000"
    # Channel kinds of SPEC §7.5: PagerDuty's Events API v2 enqueue URL (posted to as is), and
    # the SMTP server email channels send through (smtp:// or smtps://user:pass@host:port).
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    smtp_url: str = ""
    smtp_from: str = "pipepulse@localhost"

    # Dashboard session cookies are signed with this; generated and kept in data_dir if empty.
    secret_key: str = ""

    # How long a verified token or key is trusted without a lookup: a revoked one keeps
    # working for at most this long in each API process (0: look up every request).
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)

    db_pool_size: int = Field(default=20, ge=1)
    # A dead or hung server must turn into a 503 in seconds, not hold requests for a minute.
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    log_level: str = "INFO"

    # Hardening (SPEC §4.8).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Larger request bodies are 413.")
    auth_failures_per_minute: int = Field(
        default=20, ge=0, description="Failed authentications per client address a minute; 0 = no limit."
    )
    metrics_token: str = Field(
        default="", description="Bearer that lets a Prometheus scrape see the per-connection series."
    )

    @field_validator("database_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("log_level")
    @classmethod
    def _a_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)} (any case), not {value!r}")
        return level

    @field_validator("run_retention_days", "rollup_retention_days")
    @classmethod
    def _at_least_minimum(cls, value: int) -> int:
        if value < MIN_RETENTION_DAYS:
            raise ValueError(
                f"must be at least {MIN_RETENTION_DAYS} days (telemetry reads 7 days of raw runs plus "
                f"the hours at their edges), not {value}"
            )
        return value

    @model_validator(mode="after")
    def _rollups_outlive_runs(self) -> Settings:
        if self.rollup_retention_days < self.run_retention_days:
            raise ValueError(
                f"PIPEPULSE_ROLLUP_RETENTION_DAYS ({self.rollup_retention_days}) must not be shorter than "
                f"PIPEPULSE_RUN_RETENTION_DAYS ({self.run_retention_days}): older ranges are answered "
                "from the hourly rollups"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL for ``database_url`` (or the embedded SQLite file)."""
        from pipepulse.db.engine import async_database_url

        if not self.database_url:
            return async_database_url(f"sqlite:///{self.data_dir / 'pipepulse.db'}")
        return async_database_url(self.database_url)

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            orphan_window=timedelta(seconds=self.orphan_window_seconds),
            error_status_runs=self.error_status_runs,
            recent_errors_limit=self.recent_errors_limit,
            run_retention=timedelta(days=self.run_retention_days),
            rollup_retention=timedelta(days=self.rollup_retention_days),
        )
