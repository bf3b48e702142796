"""Where each table goes when the store outgrows one PostgreSQL server (SPEC §8).

Past one server the store is distributed with Citus by ``organisation_id``: a tenant's
connections, runs and rollups live together on one node, so every read of one organisation
stays on one node. Small tables every node needs are reference tables (copied to each).
docs/operations.md lists the same placement with each table's growth and retention; a test
keeps the models, this table and the docs in step.
"""

from __future__ import annotations

from typing import Literal

DISTRIBUTION_COLUMN = "organisation_id"
Placement = Literal["distributed", "reference"]

PLACEMENT: dict[str, Placement] = {
    "organisations": "reference",  # the tenants themselves: one small row each
    "api_tokens": "reference",  # a token may span every organisation (organisation_id null)
    "service_keys": "reference",  # loaders' keys belong to no organisation
    "dashboard_sessions": "reference",  # as api_tokens: a platform token's session has no organisation
    "scheduler_heartbeats": "reference",  # one row per scheduler process
    "evaluation_shares": "reference",  # one row per partition of the connections, not per tenant
    "evaluation_replicas": "reference",  # one row per evaluating scheduler process
    "notification_tallies": "reference",  # global counts, one row per notification type and state
    "warehouse_connections": "distributed",
    "runs": "distributed",
    "run_hourly_rollups": "distributed",
    "run_daily_rollups": "distributed",
    "event_hourly_rollups": "distributed",
    "connection_run_times": "distributed",
    "status_snapshots": "distributed",
    "alert_channels": "distributed",
    "alert_rules": "distributed",
    "connection_evaluations": "distributed",
    "alert_events": "distributed",
    "notifications": "distributed",
    "alert_groups": "distributed",
    "alerts": "distributed",
    "alert_group_wakes": "distributed",
    "channel_heartbeats": "distributed",
    "lineage_runs": "distributed",
    "objectives": "distributed",
    # Platform silences and maintenance windows belong to no organisation (organisation_id null).
    "silences": "reference",
    "maintenance_windows": "reference",
}

# Distributed tables whose null ``organisation_id`` is the platform's scope (SPEC §7.4: platform
# channels and rules, their groups and notifications). Citus refuses a null distribution column,
# so at distribution time their platform rows need a reserved organisation id of their own.
PLATFORM_SCOPED = frozenset(
    {"alert_channels", "alert_rules", "alert_groups", "alert_group_wakes", "notifications"}
)
