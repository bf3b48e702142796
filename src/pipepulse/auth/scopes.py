"""User-token scopes (SPEC §4.1)."""

from __future__ import annotations

from typing import Final

READ_PIPELINE_METRICS: Final = "read:pipeline_metrics"
WRITE_CONNECTIONS: Final = "write:connections"
WRITE_ALERTS: Final = "write:alerts"
ALL: Final = (READ_PIPELINE_METRICS, WRITE_CONNECTIONS, WRITE_ALERTS)
