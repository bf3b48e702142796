"""The fleet benchmark's analysis (bench/fleet.py): what it counts as lag, lost, doubled, late."""

from __future__ import annotations

import math

from bench import fleet


def test_seeding_lags__runs_on_their_grid__lag_from_their_own_slot() -> None:
    anchors = {"a": 100.0, "b": 130.0}
    runs = {"a": [100.5, 163.0, 220.0], "b": [131.0, 190.0]}
    assert sorted(fleet.seeding_lags(runs, anchors)) == [0.0, 0.0, 0.5, 1.0, 3.0]


def test_gaps__late_run_then_on_time__gaps_between_consecutive_starts() -> None:
    assert fleet.gaps({"a": [160.0, 100.0, 220.0], "b": [5.0]}) == [60.0, 60.0]


def test_lost_and_doubled__missing_and_repeated_slots__counted_apart() -> None:
    anchors = {"a": 0.0, "b": 0.0}
    runs = {"a": [0.2, 60.1, 61.0, 180.0], "b": [1.0, 61.0, 121.0, 181.0]}
    # Slots 0, 60, 120, 180 of each: a lost 120 and doubled 60.
    assert fleet.lost_and_doubled(runs, anchors, until=180.0) == (8, 1, 1)
    assert fleet.lost_and_doubled(runs, anchors, until=179.0) == (6, 1, 1)


def test_turning_reports__third_failure_after_outage_start__is_the_turn() -> None:
    failed = {"a": [50.0, 130.0, 70.0, 190.0], "b": [110.0, 170.0]}
    assert fleet.turning_reports(failed, after=60.0, runs_to_error=3) == {"a": 190.0}


def test_detect_to_notify__first_receipt_after_turn__and_unnotified_counted() -> None:
    turned = {"a": 100.0, "b": 200.0, "c": 300.0}
    notified = {"a": [40.0, 103.5, 150.0], "b": [199.0]}
    delays, missing = fleet.detect_to_notify(turned, notified)
    assert (delays, missing) == ([3.5], 2)


def test_percentile__nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (fleet.percentile(values, 50), fleet.percentile(values, 99), fleet.percentile(values, 100)) == (
        50.0,
        99.0,
        100.0,
    )
    assert math.isnan(fleet.percentile([], 50))


def test_histogram__prometheus_exposition__count_mean_and_quantiles() -> None:
    text = "\n".join(
        [
            "# HELP pipepulse_scheduler_loop_seconds Duration",
            'pipepulse_scheduler_loop_seconds_bucket{le="0.1",loop="seeding"} 50.0',
            'pipepulse_scheduler_loop_seconds_bucket{le="1.0",loop="seeding"} 100.0',
            'pipepulse_scheduler_loop_seconds_bucket{le="+Inf",loop="seeding"} 100.0',
            'pipepulse_scheduler_loop_seconds_count{loop="seeding"} 100.0',
            'pipepulse_scheduler_loop_seconds_sum{loop="seeding"} 20.0',
            'pipepulse_scheduler_loop_seconds_count{loop="alerts"} 7.0',
            "pipepulse_scheduler_seeded_runs_total 1234.0",
        ]
    )
    samples = fleet.parse_exposition(text)
    assert samples[("pipepulse_scheduler_seeded_runs_total", frozenset())] == 1234.0
    seeding = fleet.histogram(samples, "pipepulse_scheduler_loop_seconds", loop="seeding")
    assert seeding == {"count": 100.0, "mean_s": 0.2, "p50_s": 0.1, "p99_s": 0.982}


def test_histogram_quantile__all_in_inf_bucket__lower_bound() -> None:
    assert fleet.histogram_quantile([(1.0, 0.0), (math.inf, 10.0)], 0.5) == 1.0
    assert math.isnan(fleet.histogram_quantile([], 0.5))


def _group(rule: str, group: str, status: str, *alerts: tuple[str, str, str | None]) -> dict[str, object]:
    return {
        "type": "alert_group",
        "status": status,
        "group": {"rule_id": rule, "id": group},
        "alerts": [
            {"labels": {"condition": condition}, "ended_at": ended, "connection": {"id": cid}}
            for cid, condition, ended in alerts
        ],
    }


def test_group_notifications__per_connection_names_and_per_cause_counts() -> None:
    rules = {"r_conn": "connection", "r_cause": "fingerprint"}
    received = [
        (5.0, 1, _group("r_conn", "g_a", "firing", ("a", "error", None))),  # before the outage
        (110.0, 1, _group("r_conn", "g_a", "firing", ("a", "error", None))),
        (112.0, 1, _group("r_conn", "g_b", "firing", ("b", "degraded", None))),
        (200.0, 1, _group("r_cause", "g_x", "firing", ("a", "error", None), ("b", "error", None))),
        (300.0, 1, _group("r_conn", "g_a", "resolved", ("a", "error", "2026-01-01T00:05:00Z"))),
        (400.0, 1, _group("r_cause", "g_x", "resolved", ("a", "error", "t"), ("b", "error", "t"))),
        (401.0, 1, {"type": "test"}),
    ]
    named, summary = fleet.group_notifications(received, rules, since=100.0)
    # Only firing error alerts of the per-connection rule, from `since` on, name a connection.
    assert dict(named) == {"a": [110.0]}
    assert summary["fingerprint"] == {
        "rules": 1,
        "groups": 1,
        "firing_per_group_max": 1,
        "resolved_per_group_max": 1,
        "groups_with_one_firing_and_one_resolved": 1,
        "firing_total": 1,
        "resolved_total": 1,
    }
    assert summary["connection"]["groups"] == 2
    assert summary["connection"]["groups_with_one_firing_and_one_resolved"] == 1
