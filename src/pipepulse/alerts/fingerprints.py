"""Error fingerprints (SPEC §7.4): a failing run's error with every volatile part replaced, hashed.

"connection refused to db-7.internal:5432 after 30012 ms" and "connection refused to
db-9.internal:5432 after 30001 ms" share one template ("connection refused to <host> after
<n> ms") and so one fingerprint: the label alerts are grouped by when one cause breaks many
connections. Pure and without I/O; the runs API, the dashboard's grouped errors and the alert
labels all ask this module.

The replacements run in a fixed order, each on what the earlier ones left, so that a URL is
replaced whole before its host, path and numbers could be taken apart:

1. quoted values ('…', "…", `…`)      → ``<q>``
2. URLs (scheme://…)                   → ``<url>``
3. timestamps (ISO 8601 and the like)  → ``<ts>``
4. UUIDs                               → ``<uuid>``
5. e-mail addresses                    → ``<email>``
6. file paths (/a/b, C:\\a\\b, ./a)      → ``<path>``
7. IPv4/IPv6 addresses and host names  → ``<host>`` (a port after them stays ``:<n>``)
8. hex numbers (0x…)                  → ``<hex>`` (bare hex ids are ids, below)
9. numbers with a unit (12.5s, 30ms)   → ``<n>`` and the unit
10. words holding a digit (ids)        → ``<id>``
11. numbers                            → ``<n>``

then runs of white space become one space and the text is trimmed. The fingerprint is the
first 16 hex digits of the SHA-256 of the template.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

DEAD_LETTER: Final = "dead_letter"
ORPHANED: Final = "orphaned"
FAILED_WITHOUT_ERROR: Final = "run failed"

_SUBSTITUTIONS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`"), "<q>"),
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s,;)\]}>]+"), "<url>"),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
            r"(?:\s?(?:Z|UTC|[+-]\d{2}:?\d{2})\b)?"
            r"|\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"
        ),
        "<ts>",
    ),
    (
        re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        "<uuid>",
    ),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (
        re.compile(r"(?<![\w<>])(?:[A-Za-z]:\\|\.{1,2}/|~/|/)[\w.@~+-]+(?:[/\\][\w.@~+-]*)*"),
        "<path>",
    ),
    (
        re.compile(
            r"\b\d{1,3}(?:\.\d{1,3}){3}\b"
            r"|\[[0-9a-fA-F:]*:[0-9a-fA-F:]+\]"
            r"|\b(?:[a-zA-Z0-9](?:[a-zA-Z0-9_-]*[a-zA-Z0-9])?\.)+[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]\b"
        ),
        "<host>",
    ),
    (
        re.compile(r"(?<![\w.-])0[xX][0-9a-fA-F]+\b"),
        "<hex>",
    ),
    (re.compile(r"(?<![\w.-])\d+(?:\.\d+)?(?=[a-zA-Z]{1,3}\b)"), "<n>"),
    (re.compile(r"\b(?=[\w-]*[A-Za-z_])(?=[\w-]*\d)[\w-]+\b"), "<id>"),
    (re.compile(r"[-+]?\b\d+(?:[.,]\d+)*\b"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def template(error: str) -> str:
    """The error with its volatile parts replaced (see the module's docstring)."""
    text = error
    for pattern, replacement in _SUBSTITUTIONS:
        text = pattern.sub(replacement, text)
    return text.strip()


def fingerprint_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def of_run(outcome: str, error: str | None) -> tuple[str, str] | None:
    """(fingerprint, template) of a failing run; None for a run that is not failing.

    A partial run's fingerprint is ``dead_letter`` and an orphan's ``orphaned`` (SPEC §7.4);
    a failed run without an error is "run failed", as its ``recent_errors`` message says.
    """
    if outcome == "partial":
        return DEAD_LETTER, "events went to the dead-letter queue"
    if outcome == "orphaned":
        return ORPHANED, "the run never reported its end"
    if outcome != "failed":
        return None
    text = template(error) if error and error.strip() else FAILED_WITHOUT_ERROR
    return fingerprint_of(text or FAILED_WITHOUT_ERROR), text or FAILED_WITHOUT_ERROR
