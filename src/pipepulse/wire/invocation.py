"""The payload the scheduler invokes a loader with: which run of which connection."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class InvalidJob(ValueError):
    """The invocation payload is not `{"run_id", "connection_id", "organisation_id"}`."""


@dataclass(frozen=True)
class LoaderJob:
    """One run to load: `{"run_id", "connection_id", "organisation_id"}` (SPEC §2.1)."""

    run_id: str
    connection_id: str
    organisation_id: int

    def __post_init__(self) -> None:
        if not RUN_ID_PATTERN.fullmatch(self.run_id):
            raise InvalidJob(f"run_id must match {RUN_ID_PATTERN.pattern}, got {self.run_id!r}")
        if not self.connection_id or "/" in self.connection_id:
            raise InvalidJob(f"connection_id is not a connection id: {self.connection_id!r}")
        if isinstance(self.organisation_id, bool) or not isinstance(self.organisation_id, int):
            raise InvalidJob(f"organisation_id must be an integer, got {self.organisation_id!r}")

    @classmethod
    def from_event(cls, event: Mapping[str, object]) -> LoaderJob:
        """Read an invocation payload; extra keys are ignored so the payload can grow."""
        missing = [key for key in ("run_id", "connection_id", "organisation_id") if key not in event]
        if missing:
            raise InvalidJob(f"invocation payload lacks {', '.join(missing)}")
        run_id, connection_id = event["run_id"], event["connection_id"]
        if not isinstance(run_id, str) or not isinstance(connection_id, str):
            raise InvalidJob("run_id and connection_id must be strings")
        organisation_id = event["organisation_id"]
        # A payload that went through a queue or a shell may carry the integer as a string.
        if isinstance(organisation_id, str) and organisation_id.isdigit():
            organisation_id = int(organisation_id)
        if isinstance(organisation_id, bool) or not isinstance(organisation_id, int):
            raise InvalidJob(f"organisation_id must be an integer, got {organisation_id!r}")
        return cls(run_id=run_id, connection_id=connection_id, organisation_id=organisation_id)

    def to_event(self) -> dict[str, object]:
        """The invocation payload for this job."""
        return {
            "run_id": self.run_id,
            "connection_id": self.connection_id,
            "organisation_id": self.organisation_id,
        }
