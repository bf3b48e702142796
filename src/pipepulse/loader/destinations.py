"""Warehouse destinations named by URL: `duckdb:///path.duckdb` or `postgresql://…?schema=…`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pipepulse.loader.classify import Event
from pipepulse.wire.invocation import LoaderJob

DEFAULT_TABLE = "pipepulse_events"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_OWN_PARAMETERS = ("schema", "table")

# Columns every destination table has, in load order; the primary key makes delivery idempotent.
COLUMNS = (
    "organisation_id",
    "connection_id",
    "event_id",
    "event_type",
    "event_name",
    "occurred_at",
    "payload",
    "run_id",
)


class InvalidDestination(ValueError):
    """The destination URL is not one the loader understands."""


class DestinationUnavailable(Exception):
    """The destination cannot be reached or written at all; the run stops."""


class BatchRejected(Exception):
    """The destination refused one batch; it may be retried, then dead-lettered."""


class Destination(Protocol):
    """Where batches of events are loaded."""

    description: str

    def write_batch(self, job: LoaderJob, events: Sequence[Event]) -> set[str]:
        """Load events not loaded before, atomically; return the ids actually inserted."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


@dataclass(frozen=True)
class DestinationSpec:
    """A parsed destination URL."""

    kind: Literal["duckdb", "postgresql"]
    target: str  # the file path, or the libpq URL without this loader's own parameters
    schema: str
    table: str
    description: str  # safe to show: no password, no parameters
    password: str | None = None


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise InvalidDestination(f"{what} must match {_IDENTIFIER.pattern}, got {value!r}")
    return value


def _without_password(scheme: str, netloc: str, path: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    user = userinfo.split(":", 1)[0] if at else ""
    return f"{scheme}://{user + '@' if user else ''}{hostport}{path}"


def parse_destination(url: str) -> DestinationSpec:
    """Split a destination URL into what to connect to and where the table lives."""
    parts = urlsplit(url)
    parameters = parse_qsl(parts.query, keep_blank_values=True)
    own = {key: value for key, value in parameters if key in _OWN_PARAMETERS}
    table = _identifier(own.get("table", DEFAULT_TABLE), "table")
    if parts.scheme == "duckdb":
        # `duckdb:///abs/file.duckdb` is absolute; `duckdb://file.duckdb` is relative.
        # SQLAlchemy-style `duckdb:////abs/file.duckdb` means the same absolute path.
        path = re.sub(r"^/+", "/", url[len("duckdb://") :].split("?", 1)[0])
        if not path:
            raise InvalidDestination("duckdb destination needs a file path: duckdb:///path.duckdb")
        return DestinationSpec(
            kind="duckdb",
            target=path,
            schema=_identifier(own.get("schema", "main"), "schema"),
            table=table,
            description=f"duckdb://{path}",
        )
    if parts.scheme in ("postgresql", "postgres"):
        rest = [(key, value) for key, value in parameters if key not in _OWN_PARAMETERS]
        target = urlunsplit(parts._replace(query=urlencode(rest)))
        password = unquote(parts.password) if parts.password else None
        return DestinationSpec(
            kind="postgresql",
            target=target,
            schema=_identifier(own.get("schema", "public"), "schema"),
            table=table,
            description=_without_password("postgresql", parts.netloc, parts.path),
            password=password,
        )
    shown = parts.scheme or url.split(":", 1)[0]
    raise InvalidDestination(f"unsupported destination {shown!r}: use duckdb:// or postgresql://")


_NOISE = (
    re.compile(r"^connection failed:\s*"),
    re.compile(
        r'^connection to server (?:at "[^"]*"(?: \([^)]*\))?, port \d+|on socket "[^"]*")'
        r" failed:\s*"
    ),
    re.compile(r"^(?:FATAL|ERROR):\s*"),
    re.compile(r"^[A-Za-z]+(?: [A-Za-z]+)? Error:\s*"),  # DuckDB's "IO Error: ", "Catalog Error: "
)
_LOCKED = re.compile(r"Could not set lock on file .*Conflicting lock is held in .*\(PID (\d+)\)")


def short_reason(message: str, secret: str | None = None) -> str:
    """The gist of a driver's error, on one line, for a run's `error`."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    text = lines[0] if lines else "unknown error"
    for noise in _NOISE:
        text = noise.sub("", text)
    locked = _LOCKED.search(text)
    if locked:
        text = f"database file is locked by another process (PID {locked.group(1)})"
    text = text.split(". See also", 1)[0].rstrip(".")
    if secret:
        text = text.replace(secret, "***")
    if re.match(r"[A-Z][a-z]*(?: |$)", text):
        text = text[0].lower() + text[1:]
    return text[:300]


def unreachable(spec: DestinationSpec, error: BaseException) -> DestinationUnavailable:
    """The run-stopping error for a destination that cannot be used."""
    reason = short_reason(str(error), spec.password)
    return DestinationUnavailable(f"destination unreachable: {spec.description}: {reason}")
