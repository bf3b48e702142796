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


def configure(level_name: str) -> None:
    """``level_name``: one of the levels settings accept (DEBUG, INFO, WARNING, ERROR, CRITICAL)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    logging.getLogger("pipepulse").setLevel(level_name)
