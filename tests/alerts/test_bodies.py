"""What a notification says: the Slack message made from the webhook body."""

from __future__ import annotations

from datetime import UTC, datetime

from pipepulse.delivery import bodies

AT = datetime(2026, 4, 20, 12, 30, tzinfo=UTC)


def payload(type_: str, data: dict[str, object], name: str = "Finance <replica> & co") -> dict[str, object]:
    return bodies.webhook_payload(
        notification_id="ntf_1",
        type=type_,
        occurred_at=AT,
        organisation={"id": 1, "slug": "acme"},
        connection={"id": "wc_1", "name": name, "type": "postgres"},
        data=data,
        telemetry=None,
        dashboard=bodies.dashboard_link("https://pp.example.com/", 1, "wc_1"),
    )


def test_slack_body__status_change__connection_change_reason_since_and_link() -> None:
    body = bodies.slack_body(
        payload(
            "connection.status_changed",
            {
                "from": "active",
                "to": "error",
                "at": "2026-04-20T12:30:00Z",
                "reason": {"text": "All 3 failed."},
            },
        )
    )
    assert body["text"] == "Finance <replica> & co is now Error (was Active): All 3 failed."
    header, fields, actions = body["blocks"]
    assert header["text"]["text"] == "*Finance &lt;replica&gt; &amp; co is now Error (was Active)*"
    texts = [f["text"] for f in fields["fields"]]
    assert (
        texts[0]
        == "*Connection*\n<https://pp.example.com/orgs/1/connections/wc_1/|Finance &lt;replica&gt; &amp; co>"
    )
    assert texts[1] == "*Change*\nActive → Error"
    assert texts[2] == "*Reason*\nAll 3 failed."
    assert texts[3] == "*Since*\n<!date^1776688200^{date_short_pretty} {time}|2026-04-20T12:30:00Z>"
    assert actions["elements"][0]["url"] == "https://pp.example.com/orgs/1/connections/wc_1/"


def test_slack_body__each_event_type__headline_names_the_change() -> None:
    cases = {
        "connection.late": ({"sla_seconds": 8100, "late_by_seconds": 60, "at": "x"}, "is late"),
        "connection.fresh": ({"at": "x"}, "is delivering again"),
        "connection.volume_anomaly": (
            {
                "verdict": "drop",
                "actual": 0,
                "expected": 1000.0,
                "lower": 750.0,
                "upper": 1250.0,
                "hour": "h",
            },
            "volume drop",
        ),
    }
    for type_, (data, words) in cases.items():
        assert words in bodies.slack_body(payload(type_, data, name="Ads"))["text"], type_
