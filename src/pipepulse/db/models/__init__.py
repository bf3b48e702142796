"""All ORM models; importing this module registers every table on ``Base.metadata``."""

from pipepulse.db.models.alerts import (
    AlertChannel,
    AlertEvent,
    AlertRule,
    ConnectionEvaluation,
    Notification,
    NotificationTally,
)
from pipepulse.db.models.auth import ApiToken, DashboardSession, ServiceKey
from pipepulse.db.models.connections import WarehouseConnection
from pipepulse.db.models.lineage import LineageRun
from pipepulse.db.models.organisations import Organisation
from pipepulse.db.models.rollups import ConnectionRunTimes, EventHourlyRollup, RunDailyRollup, RunHourlyRollup
from pipepulse.db.models.runs import Run
from pipepulse.db.models.scheduler import SchedulerHeartbeat

__all__ = [
    "AlertChannel",
    "AlertEvent",
    "AlertRule",
    "ApiToken",
    "ConnectionEvaluation",
    "ConnectionRunTimes",
    "DashboardSession",
    "EventHourlyRollup",
    "LineageRun",
    "Notification",
    "NotificationTally",
    "Organisation",
    "Run",
    "RunDailyRollup",
    "RunHourlyRollup",
    "SchedulerHeartbeat",
    "ServiceKey",
    "WarehouseConnection",
]
