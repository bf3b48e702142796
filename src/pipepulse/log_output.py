"""Where pipepulse's own log lines go when it runs as a long-lived command.

``pipepulse serve`` and ``pipepulse scheduler`` print their lines to standard error, one line
each, at ``PIPEPULSE_LOG_LEVEL`` (INFO by default; DEBUG adds a line per scheduler pass with
where its time went). Uvicorn keeps its own loggers; this gives the rest a handler and a level,
unless the operator configured logging before (a handler on the root logger is kept as it is).
Every line is redacted on its way (redaction.install_log_redaction).
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def level_of(name: str) -> int:
    """The level a ``PIPEPULSE_LOG_LEVEL`` value names (DEBUG, INFO, WARNING, ERROR, CRITICAL,
    any case); an unknown name is INFO."""
    level = logging.getLevelName(name.strip().upper())
    return level if isinstance(level, int) else logging.INFO


def configure(level_name: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    logging.getLogger("pipepulse").setLevel(level_of(level_name))
