"""The platform Incidents page's counts (dashboard/fleet.py): by hand, and by property against a
count written here from the definition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pipepulse.dashboard import fleet
from pipepulse.dashboard.fleet import Firing, fleet_counts

T0 = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


def firing(
    org: int, group: str, connection: str, *, condition: str = "error", kind: str = "postgres",
    fingerprint: str = "fp1", reason: str = "", minute: int = 0,
) -> Firing:  # fmt: skip
    return Firing(
        organisation_id=org,
        group_id=group,
        connection_id=connection,
        connection_name=connection.upper(),
        condition=condition,
        destination=kind,
        fingerprint=fingerprint,
        reason=reason,
        started_at=T0 + timedelta(minutes=minute),
        silenced=False,
    )


def test_fleet_counts__one_connection_in_two_rules_groups__counted_once_listed_once() -> None:
    counts = fleet_counts(
        [
            firing(1, "g1", "a", reason="connection refused", minute=2),
            firing(1, "g2", "a", minute=1),  # a second rule holds the same connection
            firing(1, "g1", "b", kind="snowflake", fingerprint="fp2", minute=3),
            firing(2, "g3", "c", minute=0),
            firing(2, "g3", "c", condition="late", fingerprint="", minute=5),
        ]
    )
    assert counts.connections == 3
    assert [(b.key, b.connections, b.groups) for b in counts.by_organisation] == [("1", 2, 2), ("2", 1, 1)]
    assert [(b.key, b.connections, b.groups) for b in counts.by_destination] == [
        ("postgres", 2, 3),
        ("snowflake", 1, 1),
    ]
    assert [(b.key, b.connections, b.example) for b in counts.by_fingerprint] == [
        ("fp1", 2, "connection refused"),
        ("", 1, ""),
        ("fp2", 1, ""),
    ]
    # Oldest first, once per (organisation, connection, condition): a's earliest alert is kept.
    assert [(a.connection_id, a.condition, a.group_id) for a in counts.alerts] == [
        ("c", "error", "g3"),
        ("a", "error", "g2"),
        ("b", "error", "g1"),
        ("c", "late", "g3"),
    ]
    assert counts.more_alerts == 0


def test_fleet_counts__more_than_listed__the_rest_counted() -> None:
    many = [firing(1, "g", f"c{i:04d}", minute=i) for i in range(fleet.LISTED_ALERTS + 7)]
    counts = fleet_counts(many)
    assert len(counts.alerts) == fleet.LISTED_ALERTS
    assert counts.more_alerts == 7
    assert counts.connections == fleet.LISTED_ALERTS + 7
    assert counts.alerts[0].connection_id == "c0000"


def test_fleet_counts__nothing_firing__all_empty() -> None:
    counts = fleet_counts([])
    assert (counts.connections, counts.by_organisation, counts.alerts, counts.more_alerts) == (0, [], [], 0)


alerts = st.lists(
    st.builds(
        firing,
        st.integers(1, 3),
        st.sampled_from(["g1", "g2", "g3", "g4"]),
        st.sampled_from(["a", "b", "c", "d", "e"]),
        condition=st.sampled_from(["error", "degraded", "late"]),
        kind=st.sampled_from(["postgres", "snowflake", "bigquery"]),
        fingerprint=st.sampled_from(["fp1", "fp2", ""]),
        minute=st.integers(0, 60),
    ),
    max_size=40,
)


@given(alerts)
def test_fleet_counts__any_alerts__each_bucket_counts_its_distinct_connections_and_groups(
    given_alerts: list[Firing],
) -> None:
    counts = fleet_counts(given_alerts)
    assert counts.connections == len({(a.organisation_id, a.connection_id) for a in given_alerts})
    for field, buckets in (
        ("organisation_id", counts.by_organisation),
        ("destination", counts.by_destination),
        ("fingerprint", counts.by_fingerprint),
    ):
        keys = {str(getattr(a, field)) for a in given_alerts}
        assert {b.key for b in buckets} == keys
        for b in buckets:
            mine = [a for a in given_alerts if str(getattr(a, field)) == b.key]
            assert b.connections == len({(a.organisation_id, a.connection_id) for a in mine})
            assert b.groups == len({a.group_id for a in mine})
        # Biggest first.
        assert [b.connections for b in buckets] == sorted((b.connections for b in buckets), reverse=True)
    # Every organisation's connections are in exactly one organisation bucket.
    assert sum(b.connections for b in counts.by_organisation) == counts.connections
    distinct = {(a.organisation_id, a.connection_id, a.condition) for a in given_alerts}
    assert len(counts.alerts) + counts.more_alerts == len(distinct)
    assert {(a.organisation_id, a.connection_id, a.condition) for a in counts.alerts} == distinct
    for kept in counts.alerts:
        same = [
            a.started_at
            for a in given_alerts
            if (a.organisation_id, a.connection_id, a.condition)
            == (kept.organisation_id, kept.connection_id, kept.condition)
        ]
        assert kept.started_at == min(same)
