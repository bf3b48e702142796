"""The dead-letter prefix: batches no retry could load, each with its error beside it."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipepulse.loader.archive import StorageError
from pipepulse.loader.source import SourceFile
from pipepulse.reporter.report_body import isoformat_z

ERROR_SUFFIX = ".error.json"


@dataclass(frozen=True)
class DeadLetter:
    """Why a batch was given up on, written as the sidecar of its lines."""

    run_id: str
    error: str
    attempts: int
    failed_at: datetime

    def to_json(self, file: SourceFile, lines: tuple[int, int] | None) -> dict[str, object]:
        """The sidecar document; `lines` is the batch's first and last line, None for a file."""
        document: dict[str, object] = {"source": file.relative.as_posix()}
        if lines is not None:
            document["first_line"], document["last_line"] = lines
        return document | {
            "run_id": self.run_id,
            "error": self.error,
            "attempts": self.attempts,
            "failed_at": isoformat_z(self.failed_at),
        }


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def dead_letter_dir(file: SourceFile, dlq_prefix: str) -> Path:
    """The dead-letter folder for a source file: its partition under the dlq prefix."""
    return file.root / dlq_prefix / file.relative.parent


def dead_letter_batch(
    file: SourceFile,
    dlq_prefix: str,
    lines: Sequence[tuple[int, bytes]],
    letter: DeadLetter,
) -> Path:
    """Write a batch's original lines and its error; returns the lines file."""
    first, last = lines[0][0], lines[-1][0]
    folder = dead_letter_dir(file, dlq_prefix)
    # Named by line range, so the batch of a crashed run that is redone overwrites, not doubles.
    # The lines file is plain `.jsonl`: fixed and moved back under the source prefix, it reloads.
    lines_path = folder / f"{file.stem}.lines-{first:07d}-{last:07d}.jsonl"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(lines_path, b"".join(raw + b"\n" for _, raw in lines))
        sidecar = lines_path.with_name(lines_path.name + ERROR_SUFFIX)
        document = letter.to_json(file, (first, last))
        _write_atomically(sidecar, json.dumps(document, indent=2).encode() + b"\n")
    except OSError as exc:
        raise StorageError(f"cannot write dead letter for {file.relative}: {exc}") from exc
    return lines_path


def dead_letter_file(file: SourceFile, dlq_prefix: str, letter: DeadLetter) -> Path:
    """Move a whole unreadable file to the dead-letter prefix, with its error beside it."""
    folder = dead_letter_dir(file, dlq_prefix)
    target = folder / file.relative.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(file.path, target)
        document = letter.to_json(file, None)
        sidecar = target.with_name(target.name + ERROR_SUFFIX)
        _write_atomically(sidecar, json.dumps(document, indent=2).encode() + b"\n")
    except OSError as exc:
        raise StorageError(f"cannot dead-letter {file.relative}: {exc}") from exc
    return target
