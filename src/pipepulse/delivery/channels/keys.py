"""Which key this process encrypts channel secrets with (SPEC §7.5).

``PIPEPULSE_SECRET_KEY`` when set. Without it, an installation on the embedded SQLite default
uses the key it already generates in its data directory for dashboard sessions, and warns that
the key lies beside the data; on PostgreSQL, where every replica must share one key, there is
none: creating a channel is refused and the scheduler says why it cannot send.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipepulse import secretbox
from pipepulse.config import Settings
from pipepulse.db.engine import embedded
from pipepulse.secret_key import secret_key as data_dir_key

log = logging.getLogger(__name__)

_refusal: str | None = None
# Data directories already warned about: the demo installs the box before the app it
# starts installs it again, and one warning is enough.
_warned: set[Path] = set()


def box_for(settings: Settings) -> secretbox.SecretBox | None:
    """The box for these settings, or None (and :func:`refusal` says why)."""
    global _refusal
    _refusal = None
    try:
        if settings.secret_key:
            return secretbox.SecretBox(secretbox.parse(settings.secret_key))
        if embedded(settings.resolved_database_url):
            box = secretbox.SecretBox([data_dir_key(settings)])
            if settings.data_dir in _warned:
                return box
            _warned.add(settings.data_dir)
            log.warning(
                "%s is not set: channel secrets are encrypted with the key generated in %s,"
                " which lies beside the data it protects",
                secretbox.SETTING,
                settings.data_dir,
            )
            return box
    except secretbox.NoSecretKey as exc:
        _refusal = str(exc)
        log.error("channel secrets cannot be encrypted: %s", exc)
        return None
    _refusal = (
        f"channel secrets are encrypted at rest and no key is set: on PostgreSQL every replica"
        f" must share one, so set {secretbox.SETTING} (one or more comma-separated secrets of at"
        f" least {secretbox.MIN_SECRET_LENGTH} characters)"
    )
    return None


def install(settings: Settings) -> None:
    """Install the box for these settings in this process (see :func:`secretbox.install`)."""
    secretbox.install(box_for(settings))


def refusal() -> str:
    """Why there is no key (the message for the caller)."""
    return _refusal or (f"channel secrets are encrypted at rest and no key is set: set {secretbox.SETTING}")
