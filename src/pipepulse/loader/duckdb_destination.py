"""DuckDB destination: one embedded database file, the default for a laptop or the demo."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import duckdb

from pipepulse.loader.classify import Event
from pipepulse.loader.destinations import (
    COLUMNS,
    BatchRejected,
    DestinationSpec,
    short_reason,
    unreachable,
)
from pipepulse.wire.invocation import LoaderJob

_TYPES = ("BIGINT", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "TIMESTAMPTZ", "JSON", "VARCHAR")


_CREATE_ATTEMPTS = 5
_CREATE_TABLE = """
    CREATE TABLE IF NOT EXISTS {table} (
        organisation_id BIGINT NOT NULL,
        connection_id VARCHAR NOT NULL,
        event_id VARCHAR NOT NULL,
        event_type VARCHAR NOT NULL,
        event_name VARCHAR,
        occurred_at TIMESTAMPTZ,
        payload JSON NOT NULL,
        run_id VARCHAR NOT NULL,
        loaded_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (connection_id, event_id)
    )
"""


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class DuckDBDestination:
    """Loads batches into `<schema>.<table>` of a DuckDB file."""

    def __init__(self, spec: DestinationSpec) -> None:
        self.description = spec.description
        self._spec = spec
        self._table = f"{_quote(spec.schema)}.{_quote(spec.table)}"
        try:
            # The embedded default should just work: create the folder as well as the file.
            Path(spec.target).parent.mkdir(parents=True, exist_ok=True)
            self._connection = duckdb.connect(spec.target)
            self._create_table()
        except (OSError, duckdb.Error) as exc:
            raise unreachable(spec, exc) from exc

    def _create_table(self) -> None:
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                self._connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(self._spec.schema)}")
                self._connection.execute(_CREATE_TABLE.format(table=self._table))
                return
            except duckdb.TransactionException:
                # Runs of several connections in one process may create the table at once:
                # DuckDB lets one win and fails the others, which then find it there.
                if attempt == _CREATE_ATTEMPTS:
                    raise
                time.sleep(0.02 * attempt)

    def write_batch(self, job: LoaderJob, events: Sequence[Event]) -> set[str]:
        """Insert the events not already present, in one statement, and return their ids."""
        columns = (
            [job.organisation_id] * len(events),
            [job.connection_id] * len(events),
            [event.event_id for event in events],
            [event.event_type for event in events],
            [event.name for event in events],
            [event.occurred_at for event in events],
            [event.payload for event in events],
            [job.run_id] * len(events),
        )
        # Parallel lists unnest into rows: one columnar round trip instead of a row per call.
        selects = ", ".join(f"unnest(${index}::{kind}[])" for index, kind in enumerate(_TYPES, start=1))
        statement = (
            f"INSERT INTO {self._table} ({', '.join(COLUMNS)}) SELECT {selects} "
            "ON CONFLICT DO NOTHING RETURNING event_id"
        )
        try:
            rows = self._connection.execute(statement, list(columns)).fetchall()
        except (duckdb.IOException, duckdb.FatalException, duckdb.ConnectionException) as exc:
            raise unreachable(self._spec, exc) from exc
        except duckdb.Error as exc:
            raise BatchRejected(short_reason(str(exc))) from exc
        return {str(row[0]) for row in rows}

    def close(self) -> None:
        """Close the file so other processes can open it."""
        self._connection.close()
