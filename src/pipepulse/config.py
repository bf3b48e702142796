"""Settings, read from the environment with the ``PIPEPULSE_`` prefix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipepulse.rules import Thresholds


def default_data_dir() -> Path:
    """Where the embedded database and demo files live when nothing is configured."""
    import os

    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "pipepulse"


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

    # Scheduler.
    scheduler_tick_seconds: float = Field(default=30.0, gt=0)
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
    # Where people reach the dashboard; the links in notifications start with it.
    public_url: str = "http://127.0.0.1:8000"

    # Dashboard session cookies are signed with this; generated and kept in data_dir if empty.
    secret_key: str = ""

    db_pool_size: int = Field(default=10, ge=1)
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

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
        )

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
