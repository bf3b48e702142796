"""Realistic event files for the demo and tests, in the layout the reference loader reads."""

from __future__ import annotations

import gzip
import json
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipepulse.reporter.report_body import isoformat_z

FLAGS = ("new-checkout", "dark-mode", "pricing-page-v2", "search-ranking", "onboarding-tour")
VARIATIONS = ("on", "off", "control", "treatment")
REASONS = ("RULE_MATCH", "FALLTHROUGH", "TARGET_MATCH", "OFF")
CUSTOM_NAMES = ("page_view", "add_to_cart", "checkout_completed", "signup", "search")
PLATFORMS = ("web", "ios", "android")


@dataclass(frozen=True)
class GeneratedFile:
    """One written file and what it holds, so a caller knows what a loader should deliver."""

    path: Path
    evaluations: int
    custom_events: int
    poison_lines: int

    @property
    def events(self) -> int:
        """Valid events in the file."""
        return self.evaluations + self.custom_events


def _hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def evaluation_event(rng: random.Random, occurred_at: datetime) -> dict[str, Any]:
    """A feature-flag evaluation as an SDK would send it."""
    return {
        "id": f"evt_{_hex(rng, 96)}",
        "event_type": "flag_evaluation",
        "timestamp": isoformat_z(occurred_at),
        "flag_key": rng.choice(FLAGS),
        "variation": rng.choice(VARIATIONS),
        "reason": rng.choice(REASONS),
        "user_id": f"user_{rng.randrange(1, 5000)}",
        "platform": rng.choice(PLATFORMS),
    }


def custom_event(rng: random.Random, occurred_at: datetime) -> dict[str, Any]:
    """A product event tracked by the customer."""
    name = rng.choice(CUSTOM_NAMES)
    properties: dict[str, Any] = {"platform": rng.choice(PLATFORMS)}
    if name == "checkout_completed":
        properties["value"] = round(rng.uniform(5, 400), 2)
        properties["currency"] = "EUR"
    elif name == "search":
        properties["results"] = rng.randrange(0, 50)
    return {
        "id": f"evt_{_hex(rng, 96)}",
        "event_type": name,
        "timestamp": isoformat_z(occurred_at),
        "user_id": f"user_{rng.randrange(1, 5000)}",
        "properties": properties,
    }


def poison_line(rng: random.Random) -> bytes:
    """A line cut off mid-write, as a crashed producer leaves it."""
    whole = json.dumps(custom_event(rng, datetime(2000, 1, 1, tzinfo=UTC)))
    return whole[: rng.randrange(10, len(whole) - 5)].encode()


def write_event_file(path: Path, lines: list[bytes]) -> None:
    """Write lines as `.jsonl` or `.jsonl.gz`, appearing at once so no loader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    data = b"".join(line + b"\n" for line in lines)
    temporary.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    os.replace(temporary, path)


def generate_files(
    source_root: Path,
    organisation_id: int,
    *,
    now: datetime,
    source_prefix: str | None = None,
    hours: int = 1,
    files_per_hour: int = 1,
    events_per_file: int = 100,
    evaluation_share: float = 0.7,
    poison: bool = False,
    compress: bool = True,
    seed: int | None = None,
) -> list[GeneratedFile]:
    """Write files for the last `hours` hours up to `now`; `poison` adds one bad line at the end."""
    rng = random.Random(seed)
    prefix = source_prefix or f"events/{organisation_id}"
    suffix = ".jsonl.gz" if compress else ".jsonl"
    current_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    written: list[GeneratedFile] = []
    for hours_ago in range(hours - 1, -1, -1):
        hour = current_hour - timedelta(hours=hours_ago)
        # The current hour only has events up to now.
        span = min(timedelta(hours=1), now - hour) if hours_ago == 0 else timedelta(hours=1)
        for _ in range(files_per_hour):
            evaluations = custom = 0
            lines: list[bytes] = []
            for moment in sorted(hour + span * rng.random() for _ in range(events_per_file)):
                if rng.random() < evaluation_share:
                    record = evaluation_event(rng, moment)
                    evaluations += 1
                else:
                    record = custom_event(rng, moment)
                    custom += 1
                lines.append(json.dumps(record, separators=(",", ":")).encode())
            poison_lines = 0
            if poison and len(written) == hours * files_per_hour - 1:
                lines.insert(rng.randrange(len(lines) + 1), poison_line(rng))
                poison_lines = 1
            name = f"part-{hour:%Y%m%dT%H}-{_hex(rng, 32)}{suffix}"
            path = source_root / prefix / f"{hour:%Y/%m/%d/%H}" / name
            write_event_file(path, lines)
            written.append(GeneratedFile(path, evaluations, custom, poison_lines))
    return written
