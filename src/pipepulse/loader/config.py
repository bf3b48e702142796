"""How the reference loader is configured: in code, from a connection's config, or by env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from pipepulse.reporter.backoff import RetryPolicy
from pipepulse.wire.invocation import LoaderJob

DEFAULT_SOURCE_PREFIX = "events/{organisation_id}"
ENV_PREFIX = "PIPEPULSE_LOADER_"


class LoaderConfigError(ValueError):
    """The loader's configuration is missing or malformed."""


def check_prefix(prefix: str) -> str:
    """Return a source/archive/dlq prefix if it stays inside the source root."""
    path = PurePosixPath(prefix)
    if not prefix or path.is_absolute() or ".." in path.parts or str(path) == ".":
        raise LoaderConfigError(f"prefix must be a relative path inside the source root: {prefix!r}")
    return str(path)


@dataclass(frozen=True)
class LoaderConfig:
    """Where events come from, where they go, and how hard to try."""

    source_root: Path
    destination_url: str
    # A template: `{organisation_id}` and `{connection_id}` are filled in per job.
    source_prefix: str = DEFAULT_SOURCE_PREFIX
    archive_prefix: str = "archive"
    dlq_prefix: str = "dlq"
    batch_size: int = 1000
    batch_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_attempts=3, base_delay_s=0.2, max_delay_s=5.0)
    )
    max_events_per_run: int | None = None
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise LoaderConfigError("batch_size must be at least 1")
        if self.max_events_per_run is not None and self.max_events_per_run < 1:
            raise LoaderConfigError("max_events_per_run must be at least 1")
        check_prefix(self.archive_prefix)
        check_prefix(self.dlq_prefix)

    def prefix_for(self, job: LoaderJob) -> str:
        """The job's source prefix, relative to the source root."""
        try:
            prefix = self.source_prefix.format(
                organisation_id=job.organisation_id, connection_id=job.connection_id
            )
        except (KeyError, IndexError, ValueError) as exc:
            raise LoaderConfigError(f"bad source_prefix template {self.source_prefix!r}") from exc
        return check_prefix(prefix)

    def with_connection_config(self, connection_config: Mapping[str, object]) -> LoaderConfig:
        """Apply a connection's own `source_prefix`, `destination_url`, `batch_size` or cap."""
        source_prefix = _text(connection_config, "source_prefix")
        destination_url = _text(connection_config, "destination_url")
        batch_size = _whole(connection_config, "batch_size")
        cap = _whole(connection_config, "max_events_per_run")
        return replace(
            self,
            source_prefix=self.source_prefix if source_prefix is None else source_prefix,
            destination_url=self.destination_url if destination_url is None else destination_url,
            batch_size=self.batch_size if batch_size is None else batch_size,
            max_events_per_run=self.max_events_per_run if cap is None else cap,
        )


def _text(connection_config: Mapping[str, object], key: str) -> str | None:
    value = connection_config.get(key)
    if value is not None and not isinstance(value, str):
        raise LoaderConfigError(f"connection config {key} must be a string")
    return value


def _whole(connection_config: Mapping[str, object], key: str) -> int | None:
    value = connection_config.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise LoaderConfigError(f"connection config {key} must be an integer")
    return value


def _require(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(ENV_PREFIX + name, "").strip()
    if not value:
        raise LoaderConfigError(f"{ENV_PREFIX}{name} is not set")
    return value


def _integer(environ: Mapping[str, str], name: str) -> int | None:
    raw = environ.get(ENV_PREFIX + name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise LoaderConfigError(f"{ENV_PREFIX}{name} must be an integer, got {raw!r}") from None


def _integer_or(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _integer(environ, name)
    return default if value is None else value


def config_from_env(environ: Mapping[str, str]) -> LoaderConfig:
    """Build the loader's configuration from `PIPEPULSE_LOADER_*` variables."""
    return LoaderConfig(
        source_root=Path(_require(environ, "SOURCE_ROOT")),
        destination_url=_require(environ, "DESTINATION"),
        source_prefix=environ.get(ENV_PREFIX + "SOURCE_PREFIX") or DEFAULT_SOURCE_PREFIX,
        archive_prefix=environ.get(ENV_PREFIX + "ARCHIVE_PREFIX") or "archive",
        dlq_prefix=environ.get(ENV_PREFIX + "DLQ_PREFIX") or "dlq",
        batch_size=_integer_or(environ, "BATCH_SIZE", 1000),
        batch_retry=RetryPolicy(
            max_attempts=_integer_or(environ, "BATCH_ATTEMPTS", 3),
            base_delay_s=0.2,
            max_delay_s=5.0,
        ),
        max_events_per_run=_integer(environ, "MAX_EVENTS_PER_RUN"),
        connect_timeout_s=float(_integer_or(environ, "CONNECT_TIMEOUT", 10)),
    )
