"""The run report a loader sends: its JSON body and the mistakes it refuses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipepulse.reporter.report_body import RunReportBody
from tests.loader.support import NOW


def test_run_report_to_json__full_report__patch_body_with_z_timestamp() -> None:
    report = RunReportBody(
        completed_at=datetime(2026, 4, 20, 13, 0, 12, tzinfo=timezone(timedelta(hours=2))),
        events_delivered=5,
        batches_dlq=1,
        events_by_type={"evaluations": 3, "custom_events": 2},
        latency_ms=1500,
        events_pending=0,
        bytes_delivered=900,
    )

    assert report.to_json() == {
        "completed_at": "2026-04-20T11:00:12Z",
        "events_delivered": 5,
        "batches_dlq": 1,
        "error": None,
        "events_by_type": {"evaluations": 3, "custom_events": 2},
        "latency_ms": 1500,
        "events_pending": 0,
        "bytes_delivered": 900,
    }
    assert report.outcome == "partial"


def test_run_report_to_json__minimal_failed_report__only_required_fields() -> None:
    report = RunReportBody(completed_at=NOW, error="destination unreachable: x")

    assert report.to_json() == {
        "completed_at": "2026-04-20T12:00:00Z",
        "events_delivered": 0,
        "batches_dlq": 0,
        "error": "destination unreachable: x",
    }
    assert report.outcome == "failed"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"events_delivered": 3, "events_by_type": {"evaluations": 2}}, "sums to 2"),
        ({"events_delivered": -1}, "events_delivered must not be negative"),
        ({"latency_ms": -5}, "latency_ms must not be negative"),
        ({"completed_at": datetime(2026, 4, 20, 12)}, "timezone-aware"),  # noqa: DTZ001
    ],
)
def test_run_report__inconsistent_fields__value_error(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunReportBody(**{"completed_at": NOW, **fields})  # type: ignore[arg-type]


def test_run_report__very_long_error__cut_to_what_the_service_keeps() -> None:
    assert RunReportBody(completed_at=NOW, error="x" * 5000).error == "x" * 2000
