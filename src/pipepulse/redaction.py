"""Credentials never reach an error text or a log: URLs are shown without their secrets.

A URL keeps its scheme, host, port, path and the names of its query parameters; the
password of its userinfo and the values of secret-looking query parameters become ``***``.
Error texts that reach tenants (a failed loader invocation is stored on the run, shown by the
API and the dashboard) and log lines go through :func:`redact_text`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import traceback
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

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


# An HTTP credential echoed into text (an upstream quoting our request back): the scheme, then a
# token68 (RFC 9110). A Basic one is base64 of "user:password"; a Bearer one is a token.
_AUTH_IN_TEXT = re.compile(r"\b(Basic|Bearer)(\s+)([A-Za-z0-9+/._~-]+=*)", re.IGNORECASE)


def _credential(match: re.Match[str]) -> str:
    scheme, space, token = match.groups()
    if scheme.lower() == "bearer":
        secret = len(token) >= 16
    else:
        try:
            secret = ":" in base64.b64decode(token, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return match.group(0)  # not base64 of text: not a credential
    return f"{scheme}{space}{MASK}" if secret else match.group(0)


def _unsplit_userinfo(url: str, netloc: str) -> str | None:
    """A password with a raw ``/``, ``?`` or ``#`` in it ends the authority early for
    ``urlsplit`` ("https://u:pa/ss@host/", "https://u:p@a/ss@host/"): the userinfo then runs to
    the last ``@``. Returns the URL with that password masked, or None when there is no ``@``
    after the authority, or the authority is a host and port.

    Secrets before fidelity: a URL with a password *and* an ``@`` in its path or query loses
    what lies between the two. "host:8080" followed by an ``@`` later (``?email=me@example.com``)
    is a port, not a password, so a password whose raw ``/``, ``?`` or ``#`` follows ASCII digits
    (after its last ``:``, with no ``@`` before it) is not recognised (a percent-encoded one
    always is)."""
    scheme, sep, rest = url.partition("://")
    remainder = rest[len(netloc) :]
    if not sep or not rest.startswith(netloc) or "@" not in remainder:
        return None
    userinfo = netloc.rpartition("@")[0] if "@" in netloc else netloc
    if ":" not in userinfo or netloc.startswith("["):
        return None  # no password, or an IPv6 host
    port = netloc.rpartition(":")[2]
    if "@" not in netloc and port.isascii() and port.isdigit():
        return None  # a host and port
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:{MASK}@{rest.rpartition('@')[2]}"


def _redact_query(query: str) -> str:
    """Each secret-looking parameter's value masked in place; every other byte kept as it was."""
    pieces = []
    for piece in query.split("&"):
        name, eq, _ = piece.partition("=")
        pieces.append(f"{name}={MASK}" if eq and _secret_param(unquote_plus(name)) else piece)
    return "&".join(pieces)


def _secret_param(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_PARAM_WORDS)


def redact_url(url: str) -> str:
    """``url`` with its password and secret-looking query values replaced by ``***``."""
    # urlsplit drops tabs and line breaks anywhere in a URL: drop them first, so that the URL
    # taken apart below is the one that is shown (a tab inside a password hid it from the check
    # for a raw "/" in it, and the password was shown).
    url = url.replace("\t", "").replace("\r", "").replace("\n", "")
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        unsplit = _unsplit_userinfo(url, netloc)
        if unsplit is not None:
            return redact_url(unsplit)
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, has_password, _ = userinfo.partition(":")
            if has_password:
                netloc = f"{user}:{MASK}@{hostport}"
            elif user and not parts.password:
                # A bare userinfo can itself be a token (https://TOKEN@host/).
                netloc = f"{MASK}@{hostport}" if len(user) >= 16 else netloc
        query = _redact_query(parts.query)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        # Not a URL Python can take apart (a bad port, brackets, characters NFKC turns into
        # delimiters). A password is what usually does it: mask it and try again; failing that,
        # show nothing after the scheme.
        scheme, _, rest = url.partition("://")
        userinfo, at, after = rest.rpartition("@")
        masked = f"{scheme}://{userinfo.partition(':')[0]}:{MASK}@{after}"
        if at and ":" in userinfo and masked != url:
            return redact_url(masked)
        return f"{scheme}://{MASK}"


def redact_text(text: str) -> str:
    """``text`` with every URL and every echoed Basic or Bearer credential in it redacted."""
    text = _AUTH_IN_TEXT.sub(_credential, text)
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def _redact_arg(arg: object) -> object:
    text = str(arg)
    redacted = redact_text(text)
    return arg if redacted == text else redacted


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
