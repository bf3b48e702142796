"""Destination URLs and the errors a run reports about them."""

from __future__ import annotations

import pytest

from pipepulse.loader.destinations import InvalidDestination, parse_destination, short_reason


def test_parse_destination__postgres_with_password__description_hides_it() -> None:
    spec = parse_destination(
        "postgresql://loader:p%40ss@wh.internal:5433/analytics?schema=raw&table=events&sslmode=require"
    )

    assert spec.description == "postgresql://loader@wh.internal:5433/analytics"
    assert (spec.schema, spec.table, spec.password) == ("raw", "events", "p@ss")
    assert spec.target == "postgresql://loader:p%40ss@wh.internal:5433/analytics?sslmode=require"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("duckdb:///var/lib/w.duckdb", "/var/lib/w.duckdb"),
        ("duckdb:////var/lib/w.duckdb", "/var/lib/w.duckdb"),
        ("duckdb://w.duckdb?schema=main", "w.duckdb"),
    ],
)
def test_parse_destination__duckdb__absolute_or_relative_path(url: str, path: str) -> None:
    spec = parse_destination(url)

    assert (spec.kind, spec.target, spec.schema, spec.table) == (
        "duckdb",
        path,
        "main",
        "pipepulse_events",
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("snowflake://acct/db", "unsupported destination 'snowflake'"),
        ("duckdb://", "needs a file path"),
        ("postgresql://h/db?table=events;drop", "table must match"),
    ],
)
def test_parse_destination__unusable_url__invalid_destination(url: str, message: str) -> None:
    with pytest.raises(InvalidDestination, match=message):
        parse_destination(url)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            'connection failed: connection to server at "127.0.0.1", port 1 failed: '
            "Connection refused\n\tIs the server running on that host?",
            "connection refused",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            'FATAL:  database "nope" does not exist',
            'database "nope" does not exist',
        ),
        (
            'IO Error: Could not set lock on file "/w.duckdb": Conflicting lock is held in '
            "/usr/bin/python3 (PID 8318). See also https://duckdb.org/docs/concurrency",
            "database file is locked by another process (PID 8318)",
        ),
        (
            'FATAL:  password authentication failed for user "hunter2"',
            'password authentication failed for user "***"',
        ),
    ],
)
def test_short_reason__driver_messages__one_clear_line(message: str, reason: str) -> None:
    assert short_reason(message, secret="hunter2") == reason
