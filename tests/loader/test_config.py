"""Loader settings: prefixes, connection overrides, and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipepulse.loader.config import LoaderConfig, LoaderConfigError, config_from_env
from pipepulse.wire.invocation import InvalidJob, LoaderJob

JOB = LoaderJob("run_1", "wc_eu", 7)


def test_prefix_for__default__events_of_the_organisation() -> None:
    assert LoaderConfig(Path("/data"), "duckdb:///w.duckdb").prefix_for(JOB) == "events/7"


def test_prefix_for__template__filled_per_job() -> None:
    config = LoaderConfig(
        Path("/data"), "duckdb:///w.duckdb", source_prefix="in/{organisation_id}/{connection_id}/"
    )

    assert config.prefix_for(JOB) == "in/7/wc_eu"


@pytest.mark.parametrize("prefix", ["../elsewhere", "/etc", "events/../../x", "", "{nope}"])
def test_prefix_for__escapes_root_or_bad_template__config_error(prefix: str) -> None:
    config = LoaderConfig(Path("/data"), "duckdb:///w.duckdb", source_prefix=prefix)

    with pytest.raises(LoaderConfigError):
        config.prefix_for(JOB)


def test_with_connection_config__overrides__applied_and_others_kept() -> None:
    base = LoaderConfig(Path("/data"), "duckdb:///w.duckdb", batch_size=500)

    config = base.with_connection_config(
        {"source_prefix": "events/7/eu", "destination_url": "postgresql://wh/db", "colour": "red"}
    )

    assert (config.source_prefix, config.destination_url, config.batch_size) == (
        "events/7/eu",
        "postgresql://wh/db",
        500,
    )


def test_with_connection_config__wrong_type__config_error() -> None:
    with pytest.raises(LoaderConfigError, match="batch_size must be an integer"):
        LoaderConfig(Path("/d"), "duckdb:///w").with_connection_config({"batch_size": "10"})


def test_config_from_env__all_variables__read() -> None:
    config = config_from_env(
        {
            "PIPEPULSE_LOADER_SOURCE_ROOT": "/mnt/events",
            "PIPEPULSE_LOADER_DESTINATION": "postgresql://loader@wh/analytics",
            "PIPEPULSE_LOADER_SOURCE_PREFIX": "raw/{organisation_id}",
            "PIPEPULSE_LOADER_BATCH_SIZE": "250",
            "PIPEPULSE_LOADER_BATCH_ATTEMPTS": "5",
            "PIPEPULSE_LOADER_MAX_EVENTS_PER_RUN": "10000",
        }
    )

    assert config.source_root == Path("/mnt/events")
    assert config.prefix_for(JOB) == "raw/7"
    assert (config.batch_size, config.batch_retry.max_attempts) == (250, 5)
    assert config.max_events_per_run == 10000


def test_config_from_env__batch_size_not_a_number__says_which_variable() -> None:
    environ = {
        "PIPEPULSE_LOADER_SOURCE_ROOT": "/mnt/events",
        "PIPEPULSE_LOADER_DESTINATION": "duckdb:///w.duckdb",
        "PIPEPULSE_LOADER_BATCH_SIZE": "lots",
    }

    with pytest.raises(LoaderConfigError, match="PIPEPULSE_LOADER_BATCH_SIZE must be an integer"):
        config_from_env(environ)


@pytest.mark.parametrize(
    "event",
    [
        {"run_id": "run 1", "connection_id": "wc_1", "organisation_id": 7},
        {"run_id": "run_1", "connection_id": "wc/1", "organisation_id": 7},
        {"run_id": "run_1", "connection_id": "wc_1", "organisation_id": "seven"},
        {"run_id": "run_1", "connection_id": "wc_1", "organisation_id": True},
    ],
)
def test_loader_job_from_event__malformed__invalid_job(event: dict[str, object]) -> None:
    with pytest.raises(InvalidJob):
        LoaderJob.from_event(event)


def test_loader_job_from_event__organisation_id_as_text__accepted() -> None:
    event = {"run_id": "run_1", "connection_id": "wc_1", "organisation_id": "7", "extra": 1}

    assert LoaderJob.from_event(event) == LoaderJob("run_1", "wc_1", 7)
