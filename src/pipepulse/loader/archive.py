"""Moving fully handled event files out of the source prefix, so a rerun never reads them."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from pipepulse.loader.source import SourceFile


class StorageError(Exception):
    """The archive or dead-letter prefix cannot be written; the run stops."""


def archive_path(root: Path, archive_prefix: str, relative: PurePosixPath) -> Path:
    """Where a source file goes once handled: the same relative path under the archive prefix."""
    return root / archive_prefix / relative


def archive_file(file: SourceFile, archive_prefix: str) -> Path:
    """Move a handled file to the archive prefix, keeping its relative path."""
    target = archive_path(file.root, archive_prefix, file.relative)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(file.path, target)
    except FileNotFoundError:
        if not file.path.exists() and target.exists():
            return target  # a concurrent run of the same connection archived it first
        raise StorageError(f"cannot archive {file.relative}: file vanished") from None
    except OSError as exc:
        raise StorageError(f"cannot archive {file.relative}: {exc.strerror or exc}") from exc
    return target
