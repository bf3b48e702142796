"""Credentials never reach an error text or a log: URLs are shown without their secrets.

A URL keeps its scheme, host, port, path and the names of its query parameters; the
password of its userinfo and the values of secret-looking query parameters become ``***``.
Error texts that reach tenants (a failed loader invocation is stored on the run, shown by the
API and the dashboard) and log lines go through :func:`redact_text`.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

MASK = "***"

# A query parameter whose name contains one of these carries a credential.
SECRET_PARAM_WORDS = (
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "key",
    "signature",
    "sig",
    "auth",
    "credential",
    "session",
    "code",
)

# A URL inside free text: a scheme, "://", then everything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"""[A-Za-z][A-Za-z0-9+.\-]*://[^\s'"<>`]+""")


def _secret_param(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_PARAM_WORDS)


def redact_url(url: str) -> str:
    """``url`` with its password and secret-looking query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, has_password, _ = userinfo.partition(":")
            if has_password:
                netloc = f"{user}:{MASK}@{hostport}"
            elif user and not parts.password:
                # A bare userinfo can itself be a token (https://TOKEN@host/).
                netloc = f"{MASK}@{hostport}" if len(user) >= 16 else netloc
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(_secret_param(name) for name, _ in pairs):
                query = "&".join(
                    f"{quote(name, safe='')}={MASK if _secret_param(name) else quote(value, safe='')}"
                    for name, value in pairs
                )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        # Not a URL Python can take apart (a bad port, brackets): show nothing after the scheme.
        scheme, _, _ = url.partition("://")
        return f"{scheme}://{MASK}"


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def _redact_arg(arg: object) -> object:
    text = str(arg)
    if "://" in text:
        return redact_text(text)
    return arg


def redact_record(record: logging.LogRecord) -> None:
    """Redact a log record's message, arguments and traceback in place."""
    if isinstance(record.msg, str):
        record.msg = redact_text(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_arg(arg) for arg in record.args)
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        # Formatters reuse exc_text when it is set, so the traceback is printed redacted too.
        record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info))).rstrip("\n")


_installed = False


def install_log_redaction() -> None:
    """Redact every log record from here on, whichever logger or handler it goes through.

    A record factory rather than a filter: filters on a logger do not apply to its children,
    and the handlers belong to whoever configured logging (uvicorn, the operator).
    """
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
