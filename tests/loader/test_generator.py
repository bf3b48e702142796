"""Generated event files: the layout, the mix, and the poison line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from pipepulse.loader.classify import Event, parse_line
from pipepulse.loader.generator import generate_files
from tests.loader.support import NOW, files_under


def _lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).splitlines()


def test_generate_files__three_hours__one_file_per_hour_partition_under_the_prefix(
    source_root: Path,
) -> None:
    files = generate_files(source_root, 7, now=NOW, hours=3, events_per_file=40, seed=1)

    partitions = [path.rsplit("/", 1)[0] for path in files_under(source_root)]
    assert partitions == [
        "events/7/2026/04/20/10",
        "events/7/2026/04/20/11",
        "events/7/2026/04/20/12",
    ]
    for file in files:
        events = [parse_line(line, source="f", line_no=1) for line in _lines(file.path)]
        assert all(isinstance(event, Event) for event in events)
        kinds = [event.event_type for event in events if isinstance(event, Event)]
        assert (kinds.count("evaluations"), kinds.count("custom_events")) == (
            file.evaluations,
            file.custom_events,
        )
        assert file.evaluations > 0
        assert file.custom_events > 0
        assert len({event.event_id for event in events if isinstance(event, Event)}) == 40


def test_generate_files__poison__exactly_one_line_is_not_a_json_object(source_root: Path) -> None:
    (file,) = generate_files(source_root, 7, now=NOW, events_per_file=30, poison=True, compress=False, seed=2)

    bad = []
    for line in _lines(file.path):
        try:
            record = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        assert isinstance(record, dict)
    assert (len(bad), file.poison_lines, file.events) == (1, 1, 30)
    assert file.path.name.endswith(".jsonl")


def test_generate_files__current_hour__no_event_after_now(source_root: Path) -> None:
    (file,) = generate_files(source_root, 7, now=NOW.replace(minute=10), seed=3)

    stamps = [json.loads(line)["timestamp"] for line in _lines(file.path)]
    assert max(stamps) <= "2026-04-20T12:10:00Z"
    assert min(stamps) >= "2026-04-20T12:00:00Z"
