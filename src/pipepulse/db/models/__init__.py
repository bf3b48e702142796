"""All ORM models; importing this module registers every table on ``Base.metadata``."""

from pipepulse.db.models.alerts import (
    Alert,
    AlertChannel,
    AlertEvent,
    AlertGroup,
    AlertGroupWake,
    AlertRule,
    ChannelHeartbeat,
    ConnectionEvaluation,
    MaintenanceWindow,
    Notification,
    NotificationTally,
    Silence,
)
from pipepulse.db.models.auth import ApiToken, DashboardSession, ServiceKey
from pipepulse.db.models.connections import WarehouseConnection
from pipepulse.db.models.lineage import LineageRun
from pipepulse.db.models.objectives import Objective
from pipepulse.db.models.organisations import Organisation
from pipepulse.db.models.rollups import ConnectionRunTimes, EventHourlyRollup, RunDailyRollup, RunHourlyRollup
from pipepulse.db.models.runs import Run
from pipepulse.db.models.scheduler import EvaluationReplica, EvaluationShare, SchedulerHeartbeat
from pipepulse.db.models.snapshots import StatusSnapshot

__all__ = [
    "Alert",
    "AlertChannel",
    "AlertEvent",
    "AlertGroup",
    "AlertGroupWake",
    "AlertRule",
    "ApiToken",
    "ChannelHeartbeat",
    "ConnectionEvaluation",
    "ConnectionRunTimes",
    "DashboardSession",
    "EvaluationReplica",
    "EvaluationShare",
    "EventHourlyRollup",
    "LineageRun",
    "MaintenanceWindow",
    "Notification",
    "NotificationTally",
    "Objective",
    "Organisation",
    "Run",
    "RunDailyRollup",
    "RunHourlyRollup",
    "SchedulerHeartbeat",
    "ServiceKey",
    "Silence",
    "StatusSnapshot",
    "WarehouseConnection",
]
