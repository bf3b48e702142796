"""The installation's secret key: ``PIPEPULSE_SECRET_KEY``, or one kept in the data directory.

Dashboard sessions sign their cookies with it, and on the embedded SQLite default channel
secrets are encrypted with it when no key is set (delivery/channels/keys.py). Both read it
here, so the key is generated once and a warning about it is given once.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from pipepulse.config import Settings

log = logging.getLogger(__name__)

SECRET_KEY_FILE = "secret_key"


def secret_key(settings: Settings) -> str:
    """``settings.secret_key``, or one generated once and kept (mode 0600) in the data directory."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / SECRET_KEY_FILE
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        # O_EXCL: when two processes start at once, one writes and the other reads its key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    log.info("generated the installation's secret key", extra={"path": str(path)})
    return key


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty; delete it to generate a new key, or set PIPEPULSE_SECRET_KEY")
    return key
