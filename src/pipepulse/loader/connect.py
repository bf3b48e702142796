"""Opening the destination a URL names (apart from the shared types each destination imports)."""

from __future__ import annotations

from pipepulse.loader.destinations import Destination, parse_destination


def open_destination(url: str, *, connect_timeout_s: float = 10.0) -> Destination:
    """Connect to a destination and make sure its table exists."""
    spec = parse_destination(url)
    # Each driver is imported only when its kind of destination is used: both are heavy.
    if spec.kind == "duckdb":
        from pipepulse.loader.duckdb_destination import DuckDBDestination

        return DuckDBDestination(spec)
    from pipepulse.loader.postgres_destination import PostgresDestination

    return PostgresDestination(spec, connect_timeout_s=connect_timeout_s)
