"""Request and response bodies of the alerts API (SPEC §7.3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from pipepulse.schemas import JSON_INTEGER, ResourceId, StrictModel, Timestamp

ChannelKind = Literal["webhook", "slack", "msteams", "pagerduty", "email", "alertmanager"]
# The kinds that send to a URL the user gives (checked as SPEC §7.3 and §7.5 require).
URL_KINDS = ("webhook", "slack", "msteams", "alertmanager")
MAX_RECIPIENTS = 50
_NOT_IN_ADDRESS = r"[^@\s<>,;\\\"]"
_EMAIL_PATTERN = rf"^{_NOT_IN_ADDRESS}+@{_NOT_IN_ADDRESS}+\.{_NOT_IN_ADDRESS}+$"
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=_EMAIL_PATTERN)]
RuleEvent = Literal[
    "status:error",
    "status:degraded",
    "status:idle",
    "recovered",
    "late",
    "fresh",
    "volume_anomaly",
    "budget_burn_fast",
    "budget_burn_slow",
]
RULE_EVENTS: tuple[str, ...] = RuleEvent.__args__  # type: ignore[attr-defined]
NotificationState = Literal["pending", "delivered", "failed", "cancelled"]
NotificationType = Literal[
    "connection.status_changed",
    "connection.late",
    "connection.fresh",
    "connection.volume_anomaly",
    "test",
    "alert_group",
]
# A status event may be held back at most a week: longer is no longer an alert.
MAX_HOLD_SECONDS = 7 * 24 * 3600
MAX_RULE_CONNECTIONS = 1000

URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s\x00-\x1f/?#]+([/?#][^\s\x00-\x1f]*)?$"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ChannelId = Annotated[str, Field(pattern=r"^ach_[0-9a-f]{16}$", description="An alert channel id, ach_….")]
RuleId = Annotated[str, Field(pattern=r"^arl_[0-9a-f]{16}$", description="An alert rule id, arl_….")]


def field_of(kind: str) -> str:
    """The one field a channel of ``kind`` is created with."""
    return {"pagerduty": "routing_key", "email": "to"}.get(kind, "url")


class ChannelCreate(StrictModel):
    name: Name
    kind: ChannelKind
    url: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=2000,
            description="webhook, slack, msteams, alertmanager: an https:// (or http://) URL: a host, "
            "no spaces or control characters.",
            # What urls.parse checks first, stated for clients; its messages say more.
            json_schema_extra={"pattern": URL_PATTERN},
        ),
    ] = None
    routing_key: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=200,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="pagerduty: the Events API v2 integration key (write-only).",
        ),
    ] = None
    to: Annotated[
        list[Email] | None,
        Field(min_length=1, max_length=MAX_RECIPIENTS, description="email: the addresses to send to."),
    ] = None

    @model_validator(mode="after")
    def _fields_of_the_kind(self) -> ChannelCreate:
        needs = field_of(self.kind)
        given = {name for name in ("url", "routing_key", "to") if getattr(self, name) is not None}
        if needs not in given:
            raise ValueError(f"a {self.kind} channel needs {needs!r}")
        extra = sorted(given - {needs})
        if extra:
            raise ValueError(f"a {self.kind} channel takes {needs!r}, not {', '.join(map(repr, extra))}")
        return self


class SchedulerHeartbeats(BaseModel):
    scheduler_id: str = Field(description="The scheduler (host:pid) that sends them.")
    next_at: Timestamp
    last_sent_at: Timestamp | None
    last_delivered_at: Timestamp | None = Field(description="When the receiver last took one (a 2xx).")
    last_status_code: int | None
    last_error: str | None


class LastDelivery(BaseModel):
    """What the channel last did: its newest notification that was sent at least once."""

    notification_id: str
    type: str = Field(description="The notification's type (`test` for a test send).")
    state: NotificationState = Field(
        description="`delivered`, `failed` (given up), or `pending` (failed so far, tried again at"
        " next_attempt_at)."
    )
    attempts: int
    created_at: Timestamp
    delivered_at: Timestamp | None
    next_attempt_at: Timestamp | None
    last_status_code: int | None = Field(description="The receiver's last HTTP status (null: no answer).")
    last_error: str | None = Field(description="Why the last attempt failed, with secret values scrubbed.")


class ChannelOut(BaseModel):
    id: str
    organisation_id: int | None = Field(description="null: a platform channel (SPEC §7.4).")
    name: str
    kind: ChannelKind
    url: str = Field(
        description="Scheme and host only: the rest of a webhook URL may be a credential. Empty for kinds"
        " without a URL (pagerduty, email)."
    )
    to: list[str] | None = Field(default=None, description="email: the addresses messages go to.")
    enabled: bool
    disabled_reason: str | None
    created_at: Timestamp
    disabled_at: Timestamp | None
    heartbeat_interval_seconds: int | None = Field(
        default=None,
        description="SPEC §7.5 watchdog: every healthy scheduler sends a heartbeat this often (null: none).",
    )
    last_delivery: LastDelivery | None = Field(
        default=None, description="What the channel last did (null: nothing sent to it yet)."
    )
    heartbeats: list[SchedulerHeartbeats] = Field(
        default_factory=list,
        description="Each scheduler's last heartbeat to the channel (empty: none sent or asked for).",
    )


class HeartbeatSet(StrictModel):
    interval_seconds: Annotated[int, Field(strict=True, ge=60, le=86_400), JSON_INTEGER] = Field(
        description="How often every healthy scheduler sends a heartbeat (60 s to a day); the first goes"
        " out at the next delivery pass."
    )


class HeartbeatOut(BaseModel):
    interval_seconds: int | None = Field(description="Null: the channel asks for no heartbeats.")
    schedulers: list[SchedulerHeartbeats] = Field(
        description="Each scheduler's heartbeats to this channel: when the next is due, how the last went."
    )


class ChannelCreated(ChannelOut):
    signing_secret: str | None = Field(
        description="Webhook channels: the secret that signs every delivery. Shown only in this answer."
    )


class TestResult(BaseModel):
    delivered: bool
    status_code: int | None
    error: str | None


GroupLabel = Literal[
    "organisation", "connection", "type", "integration_type", "condition", "severity", "fingerprint"
]
GROUP_LABELS: tuple[str, ...] = GroupLabel.__args__  # type: ignore[attr-defined]
DEFAULT_GROUP_BY: tuple[GroupLabel, ...] = ("connection",)


class RuleCreate(StrictModel):
    channel_id: ChannelId
    events: Annotated[list[RuleEvent], Field(min_length=1, max_length=len(RULE_EVENTS))]
    connection_ids: (
        Annotated[list[ResourceId], Field(min_length=1, max_length=MAX_RULE_CONNECTIONS)] | None
    ) = None
    min_duration_seconds: Annotated[int, Field(strict=True, ge=0, le=MAX_HOLD_SECONDS), JSON_INTEGER] = 0
    severity: Literal["critical", "warning"] = "critical"
    group_by: Annotated[list[GroupLabel], Field(max_length=len(GROUP_LABELS))] = Field(
        default_factory=lambda: list(DEFAULT_GROUP_BY),
        description="SPEC §7.4: labels whose equal values form one alert group ([] groups everything; "
        'default ["connection"]: one group per connection).',
    )
    group_wait_seconds: Annotated[int, Field(strict=True, ge=0, le=86_400), JSON_INTEGER] = 10
    group_interval_seconds: Annotated[int, Field(strict=True, ge=0, le=86_400), JSON_INTEGER] = 300
    repeat_interval_seconds: Annotated[int, Field(strict=True, ge=0, le=7 * 86_400), JSON_INTEGER] = 14_400


class RuleOut(BaseModel):
    id: str
    organisation_id: int | None = Field(description="null: a platform rule (SPEC §7.4).")
    channel_id: str
    events: list[RuleEvent]
    connection_ids: list[str] | None
    min_duration_seconds: int
    created_at: Timestamp
    severity: str
    group_by: list[str]
    group_wait_seconds: int
    group_interval_seconds: int
    repeat_interval_seconds: int


class NotificationOut(BaseModel):
    id: str
    type: NotificationType
    group_id: str | None = Field(default=None, description="A group notification's alert group (SPEC §7.4).")
    channel_id: str
    connection_id: str | None
    rule_id: str | None
    created_at: Timestamp
    state: NotificationState
    attempts: int
    next_attempt_at: Timestamp | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: Timestamp | None


class NotificationDetail(NotificationOut):
    payload: dict[str, Any]
