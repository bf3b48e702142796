"""PostgreSQL destination: COPY into a staging table, then an idempotent insert."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from pipepulse.loader.classify import Event
from pipepulse.loader.destinations import (
    COLUMNS,
    BatchRejected,
    DestinationSpec,
    short_reason,
    unreachable,
)
from pipepulse.wire.invocation import LoaderJob

_STAGING = "pipepulse_loader_staging"


class PostgresDestination:
    """Loads batches into `<schema>.<table>` of a PostgreSQL database."""

    def __init__(self, spec: DestinationSpec, *, connect_timeout_s: float) -> None:
        self.description = spec.description
        self._spec = spec
        self._connect_timeout_s = connect_timeout_s
        self._table = sql.Identifier(spec.schema, spec.table)
        self._connection = self._connect()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        try:
            connection = psycopg.connect(
                self._spec.target,
                autocommit=True,
                connect_timeout=max(1, round(self._connect_timeout_s)),
                application_name="pipepulse-loader",
            )
        except psycopg.Error as exc:
            raise unreachable(self._spec, exc) from exc
        try:
            self._create_tables(connection)
        except psycopg.Error as exc:
            connection.close()
            raise unreachable(self._spec, exc) from exc
        return connection

    def _create_tables(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        schema = self._spec.schema
        # Look before creating: CREATE … IF NOT EXISTS still needs a privilege the loader's
        # role may lack when an administrator created the schema and table beforehand.
        for attempt in (1, 2):
            try:
                with connection.transaction():
                    exists = connection.execute(
                        "SELECT to_regnamespace(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
                        (schema, sql.Identifier(schema, self._spec.table).as_string(connection)),
                    ).fetchone()
                    schema_exists, table_exists = exists if exists else (False, False)
                    if not schema_exists:
                        connection.execute(
                            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                        )
                    if not table_exists:
                        connection.execute(
                            sql.SQL(
                                """
                                CREATE TABLE IF NOT EXISTS {} (
                                    organisation_id bigint NOT NULL,
                                    connection_id text NOT NULL,
                                    event_id text NOT NULL,
                                    event_type text NOT NULL,
                                    event_name text,
                                    occurred_at timestamptz,
                                    payload jsonb NOT NULL,
                                    run_id text NOT NULL,
                                    loaded_at timestamptz NOT NULL DEFAULT now(),
                                    PRIMARY KEY (connection_id, event_id)
                                )
                                """
                            ).format(self._table)
                        )
                break
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
                # Two loaders created the same schema or table at once; the other one won.
                if attempt == 2:
                    raise
        connection.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            ).format(sql.Identifier(_STAGING), self._table)
        )

    def write_batch(self, job: LoaderJob, events: Sequence[Event]) -> set[str]:
        """COPY the batch to staging and insert what is new, in one transaction."""
        if self._connection.closed or self._connection.broken:
            self._connection = self._connect()
        columns = sql.SQL(", ").join(sql.Identifier(column) for column in COLUMNS)
        copy = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(_STAGING), columns)
        insert = sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM {} "
            "ON CONFLICT (connection_id, event_id) DO NOTHING RETURNING event_id"
        ).format(self._table, columns, columns, sql.Identifier(_STAGING))
        try:
            with self._connection.transaction(), self._connection.cursor() as cursor:
                with cursor.copy(copy) as stream:
                    for event in events:
                        stream.write_row(
                            (
                                job.organisation_id,
                                job.connection_id,
                                event.event_id,
                                event.event_type,
                                event.name,
                                event.occurred_at,
                                event.payload,
                                job.run_id,
                            )
                        )
                cursor.execute(insert)
                return {str(row[0]) for row in cursor.fetchall()}
        except psycopg.Error as exc:
            # A lost connection stops the run; anything the server said about the batch
            # (bad data, a timeout, a lock) is the batch's failure and may pass on retry.
            if self._connection.broken or self._connection.closed:
                raise unreachable(self._spec, exc) from exc
            raise BatchRejected(short_reason(str(exc))) from exc

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()
