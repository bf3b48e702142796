"""Event files waiting under a source prefix: `<prefix>/<yyyy>/<mm>/<dd>/<hh>/*.jsonl[.gz]`."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SUFFIXES = (".jsonl.gz", ".jsonl")
_PARTITION_WIDTHS = (4, 2, 2, 2)  # yyyy, mm, dd, hh


class SourceUnavailable(Exception):
    """The source root cannot be read; the run stops."""


class UnreadableFile(Exception):
    """A file cannot be read to its end (e.g. a truncated gzip stream)."""


class FileVanished(Exception):
    """A listed file is gone: an overlapping run of the same connection took it."""


@dataclass(frozen=True)
class SourceFile:
    """One event file, known by its path relative to the source root."""

    root: Path
    relative: PurePosixPath

    @property
    def path(self) -> Path:
        """The file on disk."""
        return self.root / self.relative

    @property
    def compressed(self) -> bool:
        """Whether the file is gzip-compressed."""
        return self.relative.name.endswith(".gz")

    @property
    def stem(self) -> str:
        """The file name without `.jsonl` or `.jsonl.gz`."""
        name = self.relative.name
        for suffix in SUFFIXES:
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name


def _is_partition(parts: tuple[str, ...]) -> bool:
    return all(
        len(part) == width and part.isdigit() for part, width in zip(parts, _PARTITION_WIDTHS, strict=True)
    )


def list_source_files(root: Path, prefix: str) -> list[SourceFile]:
    """The event files under `root/prefix`, oldest hour first; other files are ignored."""
    if not root.is_dir():
        raise SourceUnavailable(f"source unreachable: {root}: no such directory")
    base = root / prefix
    if not base.is_dir():
        return []  # nothing has arrived for this prefix yet: an empty run, not a failure
    found: list[SourceFile] = []
    try:
        for path in base.glob("*/*/*/*/*"):
            relative = path.relative_to(base)
            if (
                path.name.endswith(SUFFIXES)
                and not path.name.startswith(".")
                and _is_partition(relative.parts[:4])
                and path.is_file()
            ):
                found.append(SourceFile(root, PurePosixPath(prefix, *relative.parts)))
    except OSError as exc:
        raise SourceUnavailable(f"source unreachable: {base}: {exc.strerror or exc}") from exc
    return sorted(found, key=lambda file: file.relative.as_posix())


def read_lines(file: SourceFile) -> Generator[tuple[int, bytes], None, None]:
    """Yield `(line number, line)` for each non-blank line, without its line ending."""
    try:
        stream = gzip.open(file.path, "rb") if file.compressed else file.path.open("rb")
    except FileNotFoundError as exc:
        raise FileVanished(str(file.relative)) from exc
    except OSError as exc:
        raise UnreadableFile(f"{file.relative}: {exc}") from exc
    try:
        with stream:
            for line_no, line in enumerate(stream, start=1):
                stripped = line.rstrip(b"\r\n")
                if stripped.strip():
                    yield line_no, stripped
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFile(f"{file.relative}: {exc}") from exc


def count_events(file: SourceFile) -> int:
    """How many events a file holds; an unreadable tail is not counted."""
    count = 0
    try:
        for _ in read_lines(file):
            count += 1
    except (UnreadableFile, FileVanished):
        pass
    return count
