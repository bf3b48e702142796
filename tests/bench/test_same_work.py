"""The same-work floor's templates (bench/same_work.py): a captured statement's parameters
become the values of another request of the same kind."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bench import same_work

CAPTURED_AT = datetime(2026, 4, 20, 12, 34, 56, tzinfo=UTC)


def test_template__request_values__become_slots_filled_from_the_replayed_request() -> None:
    completed = CAPTURED_AT - timedelta(seconds=1)
    known = {"wc_a": "cid", "run_1": "run_id", completed: "completed_at", "wc_b": ["ids", 1]}
    params = ["wc_a", "run_1", completed, ["wc_x", "wc_b"], 3, None, '{"events": 1}']
    spec = same_work.template(params, known, CAPTURED_AT)
    replayed_at = datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC)
    values = {"cid": "wc_z", "run_id": "run_9", "completed_at": replayed_at}

    def slots(key: object) -> object:
        return "wc_y" if key == ["ids", 1] else values[str(key)]

    assert same_work.fill(spec, slots, replayed_at) == [
        "wc_z",
        "run_9",
        replayed_at,
        ["wc_x", "wc_y"],
        3,
        None,
        '{"events": 1}',
    ]


def test_template__other_instants__relative_to_now_and_hour_or_day_kept_aligned() -> None:
    week_ago = CAPTURED_AT - timedelta(days=7)
    hour = datetime(2026, 4, 20, 12, tzinfo=UTC)
    day = datetime(2026, 4, 13, tzinfo=UTC)
    spec = same_work.template([week_ago, hour, day, date(2026, 4, 19)], {}, CAPTURED_AT)
    now = datetime(2026, 12, 6, 1, 30, 15, tzinfo=UTC)
    assert same_work.fill(spec, lambda key: key, now) == [
        now - timedelta(days=7),
        datetime(2026, 12, 6, 1, tzinfo=UTC),
        datetime(2026, 11, 29, tzinfo=UTC),
        date(2026, 12, 5),
    ]
